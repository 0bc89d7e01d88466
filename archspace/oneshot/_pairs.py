"""The (training, validation) batch pairs of an epoch that reads both: every training batch once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from archspace.errors import ArchspaceError

Batch = tuple[torch.Tensor, torch.Tensor]

_END = object()


def cycle_shorter(train: Iterable[Batch], val: Iterable[Batch]) -> Iterator[tuple[Batch, Batch]]:
    """Pairs of both until the longer ends, the shorter started again each time it ends."""
    sources = (train, val)
    iterators = [iter(train), iter(val)]
    ended = [False, False]
    while True:
        pair: list[Any] = [next(it, _END) for it in iterators]
        if all(item is _END for item in pair):
            return
        for side, item in enumerate(pair):
            if item is not _END:
                continue
            if ended[1 - side]:  # the other side has ended once already: the longer one is done
                return
            ended[side] = True
            iterators[side] = iter(sources[side])
            pair[side] = next(iterators[side], _END)
            if pair[side] is _END:
                which = ("training", "validation")[side]
                raise ArchspaceError(f"the {which} data yields no batch when iterated again: pass a re-iterable "
                                     "loader or a list of batches, not a one-pass iterator")
        yield pair[0], pair[1]


__all__ = ["cycle_shorter"]
