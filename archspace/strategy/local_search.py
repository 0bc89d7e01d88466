"""Local search — White, Nolen & Savani, "Local Search is State of the Art for Neural Architecture
Search Benchmarks" (ICML AutoML workshop 2020; as "Exploring the Loss Landscape in Neural
Architecture Search", UAI 2021): on tabular benchmarks such as NAS-Bench-201 the landscape is
smooth enough that plain hill climbing over single-decision changes matches or beats most
elaborate methods, at no cost per trial.

The walk: draw ``n_initial`` uniform samples and take the best as the centre; evaluate the
centre's whole neighbourhood (every sample one decision away, in a seeded random order; those
already evaluated are not asked again); move to the best neighbour if it beats the centre,
else the centre is a local optimum and the walk restarts from a fresh uniform sample.

Deviations and additions:

- **Several asks in flight.** When every neighbour has been asked but some results are still
  out, the walk does not wait: it moves at once if a neighbour told so far already beats the
  centre (that neighbour is the best so far; its own neighbourhood is asked next), and otherwise
  fills the slot with a uniform random sample. No sample is asked twice.
- **Failures and filters.** A failed trial, and a neighbour the filter refuses, count as the
  worst score: the walk never moves onto them.
- **Partial results** (``tell(..., partial=True)`` under a scheduler) count with their partial
  value, so a neighbour the scheduler stopped rarely becomes the centre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from archspace.errors import ArchspaceError
from archspace.space.samples import Sample, fingerprint
from archspace.strategy._sampling import neighbours, random_unseen
from archspace.strategy.base import SampleFilter, Strategy


class LocalSearch(Strategy):
    """Hill climbing over the neighbourhood of the best sample, with random restarts.

    Args:
        n_initial: uniform random samples whose best is the first centre.
        filter: see :class:`~archspace.strategy.Strategy`.

    Example:
        >>> from archspace.space import Categorical, SearchSpace
        >>> space = SearchSpace({f"x{i}": Categorical([0, 1, 2], f"x{i}") for i in range(3)})
        >>> strategy = LocalSearch()
        >>> strategy.setup(space, seed=0)
        >>> first = strategy.ask()
        >>> strategy.tell(first, 0.0)
        >>> around = [strategy.ask() for _ in range(6)]  # the 3 x 2 samples one decision away
        >>> sorted(sum(a[k] != first[k] for k in first) for a in around)
        [1, 1, 1, 1, 1, 1]
    """

    name = "local_search"
    dedup = True

    def __init__(self, *, n_initial: int = 1, filter: SampleFilter | None = None) -> None:
        super().__init__(filter=filter)
        if n_initial < 1:
            raise ArchspaceError(f"n_initial must be at least 1, got {n_initial}")
        self.n_initial = n_initial

    def _setup(self) -> None:
        self._scores: dict[str, float] = {}  # fingerprint -> score told (-inf: failed or refused)
        self._center: Sample | None = None
        self._around: list[Sample] = []  # the centre's neighbourhood, in the order it is asked
        self._next = 0  # the next neighbour to ask
        self._pending: set[str] = set()
        self._best: Sample | None = None  # the best told sample
        self.restarts = 0

    # Proposals -------------------------------------------------------------------------------------
    def _take(self, sample: Sample) -> Sample:
        key = fingerprint(sample)
        self._seen.add(key)
        self._pending.add(key)
        return sample

    def _random_unseen(self) -> Sample | None:
        return random_unseen(self.space, self.rng, self._seen, self.space_size)

    def _move(self, center: Sample) -> None:
        self._center = center
        around = neighbours(self.space, center, self.rng)
        self.rng.shuffle(around)
        self._around = around
        self._next = 0

    def _score(self, sample: Mapping[str, Any]) -> float | None:
        """The told score of ``sample``, or None while it is unknown (pending or never asked)."""
        return self._scores.get(fingerprint(sample))

    def _best_neighbour(self) -> tuple[Sample | None, float]:
        best, value = None, -math.inf
        for sample in self._around:
            score = self._score(sample)
            if score is not None and score > value:
                best, value = sample, score
        return best, value

    def _propose(self) -> Sample | None:
        if self.space_size is not None and len(self._seen) >= self.space_size:
            return None
        for _ in range(len(self._seen) + 2):  # each pass moves uphill or returns
            if self._center is None:
                if len(self._scores) + len(self._pending) < self.n_initial or self._best is None:
                    sample = self._random_unseen()
                    return None if sample is None else self._take(sample)
                self._move(self._best)
            while self._next < len(self._around):
                sample = self._around[self._next]
                self._next += 1
                if fingerprint(sample) not in self._seen:
                    return self._take(sample)
            assert self._center is not None
            center_score = self._score(self._center)
            waiting = fingerprint(self._center) in self._pending or any(
                fingerprint(s) in self._pending for s in self._around)
            best, value = self._best_neighbour()
            if best is not None and center_score is not None and value > center_score:
                self._move(best)  # uphill (with results out: the best neighbour so far already beats the centre)
                continue
            if waiting:
                sample = self._random_unseen()  # results still out: explore meanwhile
                return None if sample is None else self._take(sample)
            # a local optimum: restart from a uniform sample, whose neighbourhood follows
            sample = self._random_unseen()
            if sample is None:
                return None
            self.restarts += 1
            self._move(sample)
            return self._take(sample)
        return None

    # Results ---------------------------------------------------------------------------------------
    def _record(self, sample: Sample, score: float) -> None:
        key = fingerprint(sample)
        self._pending.discard(key)
        self._scores[key] = score
        if self._best is None or score > self._scores[fingerprint(self._best)]:
            self._best = sample

    def _rejected(self, sample: Sample) -> None:
        self._record(sample, -math.inf)

    def _observe(self, sample: Sample, result: Any) -> None:
        score = self.score(result)
        self._record(sample, -math.inf if score is None or math.isnan(score) else score)

    # State -----------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"scores": {k: (None if v == -math.inf else v) for k, v in self._scores.items()},
                "center": self._center, "around": self._around, "next": self._next,
                "pending": sorted(self._pending), "best": self._best, "restarts": self.restarts}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._scores = {k: -math.inf if v is None else float(v) for k, v in state["scores"].items()}
        self._center = None if state["center"] is None else dict(state["center"])
        self._around = [dict(s) for s in state["around"]]
        self._next = int(state["next"])
        self._pending = set(state["pending"])
        self._best = None if state["best"] is None else dict(state["best"])
        self.restarts = int(state["restarts"])

    def __repr__(self) -> str:
        return f"LocalSearch(n_initial={self.n_initial})"


__all__ = ["LocalSearch"]
