"""Regularized (aging) evolution — Real, Aggarwal, Huang & Le, "Regularized Evolution for Image
Classifier Architecture Search", AAAI 2019.

The population is a queue of the ``population_size`` most recent results. Each new sample is a
mutation of the best of ``sample_size`` members drawn at random (tournament selection), and the
oldest member leaves when a new one arrives, whatever its score (the "aging" that regularizes the
search). Until the population is full, samples are drawn at random, as the paper initialises it.

Deviations: a mutation changes each decision with probability ``mutation_prob`` and at least one
decision (the paper changes exactly one thing per mutation; the probability lets a user widen
steps, as NNI does); a child that was already tried is mutated again (``dedup``), since a repeat
costs a trial and tells nothing new on a deterministic benchmark.

Several objectives (accuracy up, latency down): the tournament winner is chosen by NSGA-II's
crowded comparison (Deb et al. 2002) — the lowest non-domination rank within the current
population, ties broken by the larger crowding distance — so parents come from the front and
from its sparse regions; ageing is unchanged. A failed trial under ``on_failure="worst"`` gets
the worst value on every objective.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from archspace.errors import ArchspaceError
from archspace.objectives import crowding_distance, non_dominated_sort
from archspace.space.samples import Sample, fingerprint
from archspace.strategy._sampling import mutate
from archspace.strategy.base import SampleFilter, Strategy

FAILURE_POLICIES = ("ignore", "worst")


class RegularizedEvolution(Strategy):
    """Aging evolution (see the module docstring).

    Args:
        population_size: members kept (the paper: 100).
        sample_size: tournament size (the paper: 25).
        mutation_prob: chance that each decision changes in a mutation (at least one always does).
        on_failure: ``"ignore"`` failed trials, or add them to the population as ``"worst"``.
        dedup: never propose a sample twice.
        filter: see :class:`~archspace.strategy.Strategy`.
    """

    name = "evolution"
    supports_multi_objective = True

    def __init__(self, *, population_size: int = 100, sample_size: int = 25, mutation_prob: float = 0.05,
                 on_failure: str = "ignore", dedup: bool = True, filter: SampleFilter | None = None) -> None:
        super().__init__(filter=filter)
        if sample_size < 1 or population_size < sample_size:
            raise ArchspaceError(f"need 1 <= sample_size <= population_size, got {sample_size} and {population_size}")
        if on_failure not in FAILURE_POLICIES:
            raise ArchspaceError(f"on_failure must be one of {list(FAILURE_POLICIES)}, got {on_failure!r}")
        if not 0.0 <= mutation_prob <= 1.0:
            raise ArchspaceError(f"mutation_prob must be in [0, 1], got {mutation_prob}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.mutation_prob = mutation_prob
        self.on_failure = on_failure
        self.dedup = dedup

    def _setup(self) -> None:
        # scores: a float (larger is better) or, with several objectives, the objectives' values
        self._population: deque[tuple[Sample, Any]] = deque()

    def _fresh(self, sample: Sample) -> bool:
        return not self.dedup or fingerprint(sample) not in self._seen

    def _propose(self) -> Sample | None:
        if self.dedup and self.space_size is not None and len(self._seen) >= self.space_size:
            return None
        sample: Sample | None = None
        for _ in range(100):
            if len(self._population) < self.population_size:
                candidate = self.space.random_sample(self.rng)
            else:
                parent = self._tournament()
                candidate = mutate(self.space, parent, self.rng, self.mutation_prob)
            if self._fresh(candidate):
                sample = candidate
                break
        if sample is None:  # crowded: fall back to any unseen sample
            for _ in range(1000):
                candidate = self.space.random_sample(self.rng)
                if self._fresh(candidate):
                    sample = candidate
                    break
        if sample is None:
            return None
        if self.dedup:
            self._seen.add(fingerprint(sample))
        return sample

    def _tournament(self) -> Sample:
        """The best of ``sample_size`` members drawn at random (crowded comparison for several objectives)."""
        picks = self.rng.sample(range(len(self._population)), self.sample_size)
        members = list(self._population)
        if not self.multi_objective:
            return members[max(picks, key=lambda i: members[i][1])][0]
        points = [member[1] for member in members]
        rank: dict[int, int] = {}
        crowding: dict[int, float] = {}
        for depth, front in enumerate(non_dominated_sort(points, self.objectives)):
            for i, distance in zip(front, crowding_distance([points[i] for i in front], self.objectives)):
                rank[i], crowding[i] = depth, distance
        return members[min(picks, key=lambda i: (rank[i], -crowding[i], picks.index(i)))][0]

    def _observe(self, sample: Sample, result: Any) -> None:
        score: Any
        if result is None:
            if self.on_failure == "ignore":
                return
            score = (tuple(float("inf") if o.direction == "minimize" else float("-inf") for o in self.objectives)
                     if self.multi_objective else float("-inf"))
        else:
            score = tuple(result) if self.multi_objective else self.score(result)
        self._population.append((sample, score))
        while len(self._population) > self.population_size:
            self._population.popleft()

    def _state(self) -> dict[str, Any]:
        return {"population": [[s, list(v) if isinstance(v, tuple) else v] for s, v in self._population]}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._population = deque((dict(s), tuple(float(x) for x in v) if isinstance(v, list) else float(v))
                                 for s, v in state["population"])

    def __repr__(self) -> str:
        return (f"RegularizedEvolution(population_size={self.population_size}, sample_size={self.sample_size}, "
                f"mutation_prob={self.mutation_prob})")


__all__ = ["RegularizedEvolution"]
