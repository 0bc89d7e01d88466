"""SNIP (Lee et al., ICLR 2019) as a whole-network score (Abdelfattah et al., ICLR 2021).

SNIP's saliency of a weight is how much the loss changes when the weight is masked out, to first
order ``|∂L/∂c|`` for a multiplicative mask ``c = 1`` on it, which equals ``|θ ⊙ ∂L/∂θ|``. The
network's score sums it over the weights of the convolutions and linear layers.
"""

from __future__ import annotations

import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy, weight_sum


class Snip(Proxy):
    """Σ |θ ⊙ ∂L/∂θ| over conv and linear weights, on one minibatch."""

    name = "snip"

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        model.train()
        model.zero_grad()
        batch.loss(model).backward()
        return weight_sum(model, lambda w, g: (w * g).abs())


__all__ = ["Snip"]
