"""Passes that must leave a module's buffers as they found them.

Batch norm updates its running statistics on every training-mode forward pass. Several passes
over a supernet are measurements, not training — ENAS's reward draws, DARTS-PT's perturbation
scores, a checkpointed segment's recomputation, a benchmark's gradient probe — and each wants the
batch statistics of its batch (train mode) without those batches counting in the statistics the
search goes on with. :func:`kept_buffers` runs such a pass and puts every buffer back afterwards,
also when the pass raises, so an aborted measurement cannot leave the supernet half-updated.

Example:
    >>> import torch
    >>> bn = torch.nn.BatchNorm1d(2)
    >>> with kept_buffers(bn):
    ...     _ = bn(torch.randn(8, 2) + 5.0)
    >>> bn.running_mean.tolist(), int(bn.num_batches_tracked)
    ([0.0, 0.0], 0)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def kept_buffers(module: nn.Module) -> Iterator[None]:
    """Run the block, then copy every buffer of ``module`` back to its value on entry (in place,
    so references held elsewhere, e.g. by an optimizer or a hook, stay valid); on an exception too."""
    saved = [(buffer, buffer.detach().clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
