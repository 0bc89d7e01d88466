"""Random search: uniform samples, optionally never repeating one.

Random search is the baseline every NAS paper must beat (Li & Talwalkar, 2019, "Random Search and
Reproducibility for Neural Architecture Search"); on NAS-Bench-201 it is a strong one.
"""

from __future__ import annotations

from archspace.space.samples import Sample, fingerprint
from archspace.strategy.base import SampleFilter, Strategy

_ENUMERATE_BELOW = 200_000  # spaces this small switch to drawing among unseen samples when crowded


class Random(Strategy):
    """Uniform random samples.

    Args:
        dedup: never propose the same sample twice; the strategy stops (``ask`` returns None) once
            every sample of a finite space has been proposed.
        filter: see :class:`~archspace.strategy.Strategy`.

    Example:
        >>> from archspace.space import Categorical, SearchSpace
        >>> strategy = Random()
        >>> strategy.setup(SearchSpace({"x": Categorical([1, 2], "x")}), seed=0)
        >>> sorted(strategy.ask()["x"] for _ in range(2)), strategy.ask()
        ([1, 2], None)
    """

    name = "random"
    supports_multi_objective = True  # proposals ignore results

    def __init__(self, *, dedup: bool = True, filter: SampleFilter | None = None) -> None:
        super().__init__(filter=filter)
        self.dedup = dedup

    def _propose(self) -> Sample | None:
        if not self.dedup:
            return self.space.random_sample(self.rng)
        if self.space_size is not None and len(self._seen) >= self.space_size:
            return None
        for _ in range(64):
            sample = self.space.random_sample(self.rng)
            key = fingerprint(sample)
            if key not in self._seen:
                self._seen.add(key)
                return sample
        if self.space_size is None or self.space_size > _ENUMERATE_BELOW:
            return None  # 64 repeats in a row in a huge space: treat it as exhausted
        unseen = [s for s in self.space.enumerate() if fingerprint(s) not in self._seen]
        if not unseen:
            return None
        sample = self.rng.choice(unseen)
        self._seen.add(fingerprint(sample))
        return sample

    def _rejected(self, sample: Sample) -> None:
        pass  # already marked seen: a rejected sample is not proposed again

    def __repr__(self) -> str:
        return f"Random(dedup={self.dedup})"


__all__ = ["Random"]
