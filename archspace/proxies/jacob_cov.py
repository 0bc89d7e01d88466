"""jacob_cov: the first score of "Neural Architecture Search without Training" (Mellor et al.,
arXiv v1, 2020), as the zero-cost paper (Abdelfattah et al., ICLR 2021) evaluates it.

A network that separates its inputs well at initialisation has input-output Jacobians that
differ from one input to the next. The score takes the Jacobian ``J_n = ∂(Σ outputs)/∂x_n`` of
every input of the batch, the correlation matrix of the flattened ``J_n`` and its eigenvalues
``λ``, and returns ``-Σ (log(λ + k) + 1/(λ + k))`` with ``k = 1e-5``: largest when the
correlation matrix is close to the identity (uncorrelated Jacobians). It reads the inputs but
no labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy

K = 1e-5


def correlation_score(jacobians: np.ndarray) -> float:
    """``-Σ log(λ+k) + 1/(λ+k)`` over the eigenvalues of the rows' correlation matrix."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jacobians)
    if not np.all(np.isfinite(corr)):  # a constant Jacobian row (e.g. an input cut off): no information
        return float("nan")
    eig = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(eig + K) + 1.0 / (eig + K)))


class JacobCov(Proxy):
    """-Σ log(λ+k) + 1/(λ+k) over the eigenvalues of the correlation of per-input Jacobians."""

    name = "jacob_cov"
    needs_labels = False

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        model.train()
        x = batch.inputs.detach().clone().requires_grad_(True)
        y = model(x)
        y.backward(torch.ones_like(y))
        assert x.grad is not None
        return correlation_score(x.grad.reshape(len(x), -1).double().numpy())


__all__ = ["JacobCov", "correlation_score"]
