"""The validation reward of one path or subnet, shared by ENAS's controller and the selections.

Top-1 accuracy when the output is class logits for integer labels (ENAS's reward, SPOS's search
score), else the negated loss, so that higher is always better.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def accuracy_or_loss(output: Any, target: torch.Tensor, loss_fn: LossFn) -> float:
    """Top-1 accuracy for class logits and integer labels, else the negated loss (batch means)."""
    logits = output[0] if isinstance(output, (tuple, list)) else output
    if (isinstance(logits, torch.Tensor) and logits.dim() == 2 and target.dim() == 1
            and not target.is_floating_point() and len(target) == len(logits)):
        return float((logits.argmax(1) == target).float().mean())
    return -float(loss_fn(output, target))


def reward_metric(loss_fn: LossFn, device: str | torch.device = "cpu") -> Callable[[nn.Module, Iterable[Batch]], float]:
    """``metric(model, batches)``: :func:`accuracy_or_loss` averaged over the batches' examples."""

    def metric(model: nn.Module, batches: Iterable[Batch]) -> float:
        total, count = 0.0, 0
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            total += accuracy_or_loss(model(x), y, loss_fn) * len(y)
            count += len(y)
        if count == 0:
            raise ValueError("no validation batch to score the candidates on")
        return total / count

    return metric


__all__ = ["accuracy_or_loss", "reward_metric"]
