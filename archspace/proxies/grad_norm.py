"""grad_norm (Abdelfattah et al., ICLR 2021): how strongly the first step of training would move
the network — Σ over the convolutions and linear layers of the Euclidean norm of the loss
gradient of their weights, from one minibatch at initialisation."""

from __future__ import annotations

import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy, prunable_layers


class GradNorm(Proxy):
    """Σ_layers ‖∂L/∂W‖₂ on one minibatch (layers that get no gradient add 0)."""

    name = "grad_norm"

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        model.train()
        model.zero_grad()
        batch.loss(model).backward()
        return sum(float(layer.weight.grad.norm()) for layer in prunable_layers(model) if layer.weight.grad is not None)


__all__ = ["GradNorm"]
