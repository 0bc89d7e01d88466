"""The two size baselines every zero-cost proxy must beat: parameter count and FLOPs.

On NAS-Bench-201 both already rank architectures about as well as most gradient-based proxies
(bigger cells hold more convolutions, and convolutions are what train well there), which is why
the zero-cost literature reports them beside every new proxy.
"""

from __future__ import annotations

import torch
from torch import nn

from archspace.hardware.counting import count_flops, count_params
from archspace.proxies.base import Batch, Proxy


class Params(Proxy):
    """The number of trainable parameters (shared ones once)."""

    name = "params"
    needs_data = False
    needs_labels = False

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        return float(count_params(model, trainable_only=True))


class Flops(Proxy):
    """Multiply-accumulates of one forward pass of one input of the batch's shape."""

    name = "flops"
    needs_data = False
    needs_labels = False

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        # counted on the meta device: shapes only, so a large network costs no real arithmetic
        return float(count_flops(model.to(torch.device("meta")), (1, *batch.input_shape)))


__all__ = ["Flops", "Params"]
