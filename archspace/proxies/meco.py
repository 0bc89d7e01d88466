"""MeCo (Jiang et al., NeurIPS 2023, "MeCo: Zero-Shot NAS with One Data and Single Forward Pass
via Minimum Eigenvalue of Correlation").

A layer whose channels respond alike carries redundant features and trains poorly. MeCo runs
one input (the first of the batch) forward and, for the output of every module, takes the
Pearson correlation matrix of its channels (each channel's feature map flattened), replaces
undefined entries (a constant channel) by 0, and keeps the smallest eigenvalue; the score is the
sum over modules. As in the official code every module is hooked, containers included, so a
block's output counts once for the block and once for its last layer; outputs without spatial
extent (logits, pooled features) give an all-zero matrix and add 0. No labels are needed.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy


def min_eigen_correlation(features: torch.Tensor) -> float:
    """The smallest eigenvalue of the channel correlation matrix of one ``(C, ...)`` feature map."""
    rows = features.detach().reshape(features.shape[0], -1).double()
    if rows.shape[1] < 2:  # one value per channel: every correlation undefined, the zero matrix
        return 0.0
    corr = torch.corrcoef(rows) if rows.shape[0] > 1 else torch.ones(1, 1, dtype=torch.float64)
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(torch.linalg.eigvalsh(corr).min())


class Meco(Proxy):
    """Σ over module outputs of λ_min(channel correlation) of one input's feature maps."""

    name = "meco"
    needs_labels = False

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        model.train()
        values: list[float] = []
        handles = []

        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and output.dim() >= 2:
                values.append(min_eigen_correlation(output[0]))

        for module in model.modules():
            handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad():
                model(batch.inputs[:1])
        finally:
            for handle in handles:
                handle.remove()
        return sum(v for v in values if math.isfinite(v))


__all__ = ["Meco", "min_eigen_correlation"]
