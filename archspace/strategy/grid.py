"""Grid search: every sample of a finite space exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspace.errors import SpaceDefinitionError
from archspace.space.samples import Sample
from archspace.strategy.base import SampleFilter, Strategy


class GridSearch(Strategy):
    """Enumerate the space; conditional decisions are only varied where they are active, so no
    sample repeats.

    Args:
        shuffle: visit the samples in a seeded random order instead of the space's order.
        max_size: refuse spaces with more samples than this (enumeration would never end).
        filter: see :class:`~archspace.strategy.Strategy`.
    """

    name = "grid"
    supports_multi_objective = True  # proposals ignore results

    def __init__(self, *, shuffle: bool = False, max_size: int = 1_000_000, filter: SampleFilter | None = None) -> None:
        super().__init__(filter=filter)
        self.shuffle = shuffle
        self.max_size = max_size

    def _setup(self) -> None:
        try:
            size = self.space.size()
        except SpaceDefinitionError:
            size = None
        if size is None or size > self.max_size:
            shown = "too many to count" if size is None else f"{size:,}"
            raise SpaceDefinitionError(
                f"GridSearch cannot enumerate this space: it has {shown} samples, over max_size="
                f"{self.max_size:,}; use Random or an evolutionary strategy, or raise max_size"
            )
        self._size = size
        self._order: list[int] | None = None
        if self.shuffle:
            self._order = list(range(size))
            self.rng.shuffle(self._order)
        self._samples: list[Sample] | None = None
        self._position = 0

    def _all(self) -> list[Sample]:
        if self._samples is None:
            self._samples = list(self.space.enumerate())
        return self._samples

    def _propose(self) -> Sample | None:
        if self._position >= self._size:
            return None
        index = self._order[self._position] if self._order is not None else self._position
        self._position += 1
        return dict(self._all()[index])

    def _state(self) -> dict[str, Any]:
        return {"position": self._position}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._position = int(state["position"])

    def __repr__(self) -> str:
        return f"GridSearch(shuffle={self.shuffle})"


__all__ = ["GridSearch"]
