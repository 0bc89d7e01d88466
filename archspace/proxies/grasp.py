"""GraSP (Wang et al., ICLR 2020) as a whole-network score (Abdelfattah et al., ICLR 2021).

GraSP asks how removing a weight changes the gradient flow ``gᵀg``; to first order that is
``-θ ⊙ Hg`` with ``H`` the Hessian of the loss and ``g`` its gradient. ``Hg`` comes from a
Hessian-vector product: differentiate ``Σ g_detached · ∂L/∂θ`` (the second gradient built with a
graph) once more. The score sums ``-θ ⊙ Hg`` over the conv and linear weights; the minus sign is
the zero-cost paper's, chosen because the sum without it correlates negatively with accuracy.
"""

from __future__ import annotations

import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy, prunable_layers


class Grasp(Proxy):
    """Σ -θ ⊙ Hg over conv and linear weights (a Hessian-vector product on one minibatch)."""

    name = "grasp"

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        model.train()
        model.zero_grad()
        weights = [layer.weight for layer in prunable_layers(model)]
        if not weights:
            return 0.0
        first = torch.autograd.grad(batch.loss(model), weights, allow_unused=True)
        second = torch.autograd.grad(batch.loss(model), weights, create_graph=True, allow_unused=True)
        terms = [(g.detach() * h).sum() for g, h in zip(first, second) if g is not None and h is not None]
        if not terms:
            return 0.0
        hg = torch.autograd.grad(torch.stack(terms).sum(), weights, allow_unused=True)
        return sum(float((-w.detach() * v).sum()) for w, v in zip(weights, hg) if v is not None)


__all__ = ["Grasp"]
