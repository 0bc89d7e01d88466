"""ZiCo (Li et al., ICLR 2023, "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on
Gradients").

Networks train fast and generalise when their gradients are large in mean and consistent
across batches. For each conv and linear layer, ZiCo takes every weight's gradient on several
minibatches, its mean absolute value ``μ`` and its standard deviation ``σ`` across the batches,
and adds ``log Σ μ/σ`` over the weights whose ``σ`` is not zero (a layer whose sum is zero adds
nothing). The official code uses two training batches; here the one batch given is split into
two halves, each a minibatch with its own gradient (pass twice the batch size to match the
paper's two full batches).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy, ProxyError, prunable_layers

SPLITS = 2


class Zico(Proxy):
    """Σ_layers log Σ_weights mean|g| / std(g), the statistics taken over minibatches."""

    name = "zico"

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        n = len(batch.inputs)
        if n < SPLITS:
            raise ProxyError(f"zico needs a batch of at least {SPLITS} inputs (one per minibatch), got {n}")
        model.train()
        layers = list(prunable_layers(model))
        grads: list[list[torch.Tensor | None]] = [[] for _ in layers]
        bounds = [round(i * n / SPLITS) for i in range(SPLITS + 1)]
        for start, stop in zip(bounds, bounds[1:]):
            model.zero_grad()
            batch.loss(model, start, stop).backward()
            for store, layer in zip(grads, layers):
                store.append(None if layer.weight.grad is None else layer.weight.grad.detach().flatten().clone())
        total = 0.0
        for store in grads:
            if any(g is None for g in store):
                continue
            stacked = torch.stack([g for g in store if g is not None]).double()
            std = stacked.std(dim=0, unbiased=False)
            keep = std != 0
            ratio = float((stacked.abs().mean(dim=0)[keep] / std[keep]).sum())
            if ratio != 0.0:
                total += math.log(ratio)
        return total


__all__ = ["Zico"]
