"""SynFlow (Tanaka et al., NeurIPS 2020), as a whole-network score (Abdelfattah et al., ICLR 2021).

Every parameter is replaced by its absolute value, batch normalisation is removed, and one input
of all ones goes through the network in double precision; ``R`` is the sum of the outputs. The
score is Σ |θ ⊙ ∂R/∂θ| over the weights of the convolutions and linear layers. With all weights
positive and no data, ``R`` measures the "synaptic flow" through every path of the network, so
the score sees depth, width and connectivity without reading any image: it is data-free.

Normalisation layers are removed, as the zero-cost paper's code scores synflow (it also lists a
``synflow_bn`` variant that keeps them); Tanaka et al.'s pruning code instead keeps BN in eval
mode, where fresh running statistics make it an affine map of fixed scale. Double precision is
the zero-cost code's too: the path products of a deep network with positive weights overflow
float32.
"""

from __future__ import annotations

import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy, weight_sum

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def remove_norms(model: nn.Module) -> None:
    """Replace every normalisation layer of ``model`` by the identity, in place."""
    for name, child in list(model.named_children()):
        if isinstance(child, _NORMS):
            setattr(model, name, nn.Identity())
        else:
            remove_norms(child)


class Synflow(Proxy):
    """Σ |θ ⊙ ∂R/∂θ| with θ ← |θ|, no normalisation, an all-ones input in float64 (see the module)."""

    name = "synflow"
    needs_data = False
    needs_labels = False

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        remove_norms(model)
        model.double()
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        model.zero_grad()
        ones = torch.ones((1, *batch.input_shape), dtype=torch.float64, device=batch.inputs.device)
        model(ones).sum().backward()
        return weight_sum(model, lambda w, g: (w * g).abs())


__all__ = ["Synflow", "remove_norms"]
