"""Data-parallel helpers for one-shot training under ``torchrun`` (gloo on CPU, nccl on GPU).

Every rank starts from rank 0's weights and logits (:func:`broadcast_parameters`), and after every
backward pass the gradients are averaged across ranks (:func:`average_gradients`), so all ranks
hold identical parameters at all times without wrapping the supernet in DDP (whose bucketing
would not see the architecture step). Every helper is a no-op without a process group.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import distributed as dist
from torch import nn


def is_distributed() -> bool:
    """Whether a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """Whether this process is rank 0 (or runs alone): the one that writes logs and files."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """All-reduce (mean) the gradients of ``params`` across ranks, in one flat message."""
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_parameters(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if is_distributed():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, 0)


def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (e.g. batch-norm statistics) to every rank, as DDP does each step."""
    if is_distributed():
        for buffer in module.buffers():
            dist.broadcast(buffer.data, 0)


__all__ = ["average_gradients", "broadcast_buffers", "broadcast_parameters", "is_distributed", "is_main"]
