"""The evolutionary search of Single Path One-Shot over a trained supernet.

Guo et al. (ECCV 2020), section 3.4, and the official code's search: a population of
architectures, each scored by its subnet with the supernet's weights *inherited* (no fine-tuning)
after its batch-norm statistics are recomputed on a subset of the training data (the statistics
the supernet's batch norms hold are a mix over all the paths it trained, wrong for any one path);
each generation keeps the ``select`` best architectures seen so far, breeds ``mutation`` children
(each decision redrawn with probability ``mutation_prob``) and ``crossover`` children (each
decision from one of two parents) from them and fills the population with random ones. Every
candidate must pass the ``constraint`` (FLOPs, parameters or latency: see
:mod:`archspace.hardware.constraints`) before it is scored, and none is scored twice. Official
settings: population 50, select 10, mutation 25 (probability 0.1), crossover 25, 20 generations,
FLOPs at most 330M; batch norm recalibrated on 200 training batches of 128 images (25,600), each
candidate scored on 40 validation batches of 200 images (8,000).

Deviations: batch-norm statistics are recomputed as the exact average over the calibration
batches (momentum None) instead of the official momentum 0.1 after a reset; the score is accuracy
(higher is better) rather than the error.

Example:
    >>> import torch
    >>> from archspace.oneshot import to_supernet
    >>> from archspace.testing import SharedNet
    >>> supernet = to_supernet(SharedNet())
    >>> data = [(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))]
    >>> result = EvolutionSearch(population=4, select=2, mutation=1, crossover=1, generations=2).search(
    ...     supernet, data, data)
    >>> sorted(result.best) == sorted(SharedNet().search_space())
    True
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archspace.errors import ArchspaceError
from archspace.nn.space import ModelSpace
from archspace.oneshot.loop import Batch, Constraint
from archspace.oneshot.supernet import Supernet
from archspace.space.samples import Sample, fingerprint
from archspace.space.search_space import SearchSpace


class EvolutionSearchError(ArchspaceError, ValueError):
    """Bad settings of the evolutionary search, or no candidate that passes the constraint."""


def recalibrate_batch_norm(model: nn.Module, batches: Iterable[Batch], *, device: str | torch.device = "cpu") -> int:
    """Recompute every batch norm's running statistics of ``model`` on ``batches``; return the
    number of images used.

    The statistics are reset and then set to the exact average of the batch statistics (momentum
    None while it runs); only the batch norms run in training mode (dropout and the like stay in
    evaluation mode), nothing else changes, and no gradient is taken. ``model`` is left in
    evaluation mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    seen = 0
    try:
        with torch.no_grad():
            for x, _ in batches:
                model(x.to(device))
                seen += len(x)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()
    return seen


def accuracy(model: nn.Module, batches: Iterable[Batch], *, device: str | torch.device = "cpu") -> float:
    """Top-1 accuracy of ``model`` (in evaluation mode) over ``batches``."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            out = model(x.to(device))
            out = out[0] if isinstance(out, (tuple, list)) else out
            correct += int((out.argmax(-1) == y.to(device)).sum())
            total += len(y)
    if total == 0:
        raise EvolutionSearchError("the validation batches are empty; the search scores candidates on them")
    return correct / total


#: Scores a subnet (in evaluation mode) on validation batches; higher is better.
Metric = Callable[[nn.Module, Iterable[Batch]], float]


def score_subnet(supernet: Supernet, sample: Mapping[str, Any], calibration: Iterable[Batch],
                 validation: Iterable[Batch], *, recalibrate: bool = True, device: str | torch.device = "cpu",
                 metric: Metric | None = None) -> float:
    """Validation score of ``sample``'s subnet with the supernet's weights, its batch-norm
    statistics recomputed on ``calibration`` first (``recalibrate=False``: the supernet's own).

    ``metric(model, validation)`` gives the score (higher is better); None: top-1 accuracy."""
    with torch.random.fork_rng(devices=[]):  # freeze() initialises fresh layers: leave the caller's RNG alone
        model = supernet.subnet(sample)
    if recalibrate:
        recalibrate_batch_norm(model, calibration, device=device)
    if metric is None:
        return accuracy(model, validation, device=device)
    model.eval()
    with torch.no_grad():
        return float(metric(model, validation))


@dataclass
class EvolutionResult:
    """What an evolutionary search found.

    Attributes:
        best: the best-scoring architecture.
        best_score: its validation accuracy (inherited weights, recalibrated batch norm).
        top: the ``select`` best (sample, score) pairs, best first.
        history: one record per generation: ``generation``, ``scored`` (new candidates),
            ``best_score``, ``top_scores``, ``seconds``.
        scored: every scored candidate as (sample, score), in scoring order.
        rejected: candidates refused by the constraint.
        seconds_scoring: time spent scoring (subnet, recalibration, validation).
    """

    best: Sample
    best_score: float
    top: list[tuple[Sample, float]]
    history: list[dict[str, Any]] = field(default_factory=list)
    scored: list[tuple[Sample, float]] = field(default_factory=list)
    rejected: int = 0
    seconds_scoring: float = 0.0

    @property
    def candidates_per_second(self) -> float:
        """Candidates scored per second of scoring time."""
        return len(self.scored) / self.seconds_scoring if self.seconds_scoring > 0 else float("nan")


class EvolutionSearch:
    """SPOS's evolutionary search (see the module docstring).

    Args:
        population: candidates per generation (50).
        select: the top-k kept as parents (10).
        mutation: children by mutation per generation (25).
        crossover: children by crossover per generation (25).
        mutation_prob: the probability that a mutation redraws a decision (0.1).
        generations: generations (20).
        constraint: a filter ``sample -> bool`` run before scoring (e.g. a
            :class:`~archspace.hardware.ConstraintFilter` with a latency table), or constraint
            strings such as ``"flops <= 330e6"`` / ``["params <= 3.5e6"]`` checked on
            :func:`~archspace.hardware.profile` figures of the supernet's space.
        input_shape: the input (batch first, e.g. ``(1, 3, 32, 32)``) at which constraint strings
            are counted; default: the shape of the space's ``example_input(1)``. A space without
            ``example_input()`` needs it for constraint strings.
        seed: seeds the search's own random generator.
    """

    def __init__(self, *, population: int = 50, select: int = 10, mutation: int = 25, crossover: int = 25,
                 mutation_prob: float = 0.1, generations: int = 20,
                 constraint: Constraint | str | Sequence[str] | None = None,
                 input_shape: Sequence[int] | None = None, seed: int = 0) -> None:
        if min(population, select, generations) < 1 or min(mutation, crossover) < 0:
            raise EvolutionSearchError(f"population ({population}), select ({select}) and generations ({generations}) "
                                       f"must be at least 1, mutation ({mutation}) and crossover ({crossover}) at least 0")
        if mutation + crossover > population:
            raise EvolutionSearchError(f"mutation + crossover ({mutation} + {crossover}) exceed the population ({population})")
        if not 0.0 <= mutation_prob <= 1.0:
            raise EvolutionSearchError(f"mutation_prob must be in [0, 1], got {mutation_prob}")
        if input_shape is not None and (isinstance(input_shape, (str, bytes)) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in input_shape)):
            raise EvolutionSearchError(f"input_shape must be positive sizes, batch first, e.g. (1, 3, 32, 32); "
                                       f"got {input_shape!r}")
        if constraint is not None and not callable(constraint):  # a misspelt figure: now, not after training
            from archspace.hardware.constraints import ConstraintError, parse_constraints

            try:
                parse_constraints(constraint)
            except ConstraintError as exc:
                raise EvolutionSearchError(f"EvolutionSearch constraint: {exc}") from None
        self.population = population
        self.select = select
        self.mutation = mutation
        self.crossover = crossover
        self.mutation_prob = mutation_prob
        self.generations = generations
        self.constraint = constraint
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.seed = seed

    # Candidates ------------------------------------------------------------------------------------
    @staticmethod
    def _complete(space: SearchSpace, partial: Mapping[str, Any], rng: random.Random) -> Sample:
        """``partial`` made a valid sample: active decisions it lacks drawn, inactive ones dropped."""
        sample: Sample = {}
        for label, decision in space.items():
            if space.condition(label).holds(sample):
                sample[label] = partial[label] if label in partial else rng.choice(decision.values)
        return sample

    def _mutate(self, space: SearchSpace, parent: Mapping[str, Any], rng: random.Random) -> Sample:
        child = {label: (rng.choice(space[label].values) if rng.random() < self.mutation_prob else value)
                 for label, value in parent.items()}
        return self._complete(space, child, rng)

    def _cross(self, space: SearchSpace, a: Mapping[str, Any], b: Mapping[str, Any], rng: random.Random) -> Sample:
        child = {label: rng.choice([a[label], b[label]]) if label in b else a[label] for label in a}
        child.update({label: value for label, value in b.items() if label not in child})
        return self._complete(space, child, rng)

    def _filter(self, supernet: Supernet) -> Constraint | None:
        return self.constraint_filter(supernet.space[0])

    def constraint_filter(self, space: ModelSpace) -> Constraint | None:
        """The search's own constraint as a filter of ``space``'s samples (constraint strings are
        counted at ``input_shape``, or the space's ``example_input()``). SPOS builds it before the
        supernet trains, so a space whose figures cannot be counted is refused at once."""
        if self.constraint is None or callable(self.constraint):
            return self.constraint
        from archspace.hardware.constraints import ConstraintFilter, HardwareMetrics, parse_constraints

        return ConstraintFilter(parse_constraints(self.constraint), HardwareMetrics(space, input_shape=self.input_shape))

    # The search ----------------------------------------------------------------------------------------
    def search(self, supernet: Supernet, calibration: Iterable[Batch], validation: Iterable[Batch], *,
               device: str | torch.device = "cpu",
               on_generation: Callable[[dict[str, Any]], None] | None = None, metric: Metric | None = None,
               on_score: Callable[[Sample, float], None] | None = None,
               known: Mapping[str, float] | None = None, constraint: Constraint | None = None) -> EvolutionResult:
        """Run the search; score candidates on ``validation`` after recalibrating on ``calibration``.

        Both are iterated once per candidate (a list of batches, or a re-iterable loader).

        Args:
            metric: ``metric(model, validation)``, higher is better (None: top-1 accuracy).
            on_score: called with each newly scored candidate and its score (e.g. to store it).
            known: scores by sample fingerprint (:func:`archspace.space.samples.fingerprint`) from
                an earlier, interrupted run of the same search: those candidates are not scored
                again (nor passed to ``on_score``). The search draws what it would have drawn, so
                a resumed search ends where an uninterrupted one ends.
            constraint: a filter for this search only (an experiment's constraints), checked
                after the search's own ``constraint``: a candidate must pass both.

        Raises:
            EvolutionSearchError: no candidate passes the constraint.
        """
        space = supernet.space[0].search_space()
        rng = random.Random(self.seed)
        checks = [c for c in (self._filter(supernet), constraint) if c is not None]
        seen: set[str] = set()
        scores: dict[str, float] = {}
        result = EvolutionResult(best={}, best_score=float("-inf"), top=[])
        top: list[tuple[Sample, float]] = []

        def legal(sample: Sample) -> bool:
            key = fingerprint(sample)
            if key in seen:
                return False
            seen.add(key)
            if any(not check(sample) for check in checks):
                result.rejected += 1
                return False
            return True

        def breed(count: int, make: Callable[[], Sample]) -> list[Sample]:
            out: list[Sample] = []
            for _ in range(10 * count):  # the official bound on tries
                if len(out) >= count:
                    break
                child = make()
                if legal(child):
                    out.append(child)
            return out

        def random_child() -> Sample:
            return space.random_sample(rng)

        candidates = breed(self.population, random_child)
        for generation in range(self.generations):
            start = time.perf_counter()
            new = [c for c in candidates if fingerprint(c) not in scores]
            for sample in new:
                key = fingerprint(sample)
                if known is not None and key in known:
                    score = float(known[key])
                else:
                    began = time.perf_counter()
                    score = score_subnet(supernet, sample, calibration, validation, device=device, metric=metric)
                    result.seconds_scoring += time.perf_counter() - began
                    if on_score is not None:
                        on_score(sample, score)
                scores[key] = score
                result.scored.append((sample, score))
            top = sorted(top + [(c, scores[fingerprint(c)]) for c in new], key=lambda item: -item[1])[:self.select]
            if not top:
                shown = " and ".join(repr(c) for c in (self.constraint, constraint) if c is not None) or "None"
                raise EvolutionSearchError(f"no candidate passed the constraint {shown} "
                                           f"({result.rejected} rejected)")
            record = {"generation": generation, "scored": len(new), "best_score": top[0][1],
                      "top_scores": [s for _, s in top], "seconds": time.perf_counter() - start}
            result.history.append(record)
            if on_generation is not None:
                on_generation(record)
            if generation + 1 == self.generations:
                break
            parents = [s for s, _ in top]
            mutated = breed(self.mutation, lambda p=parents: self._mutate(space, rng.choice(p), rng))  # type: ignore[misc]
            crossed = breed(self.crossover,
                            lambda p=parents: self._cross(space, rng.choice(p), rng.choice(p), rng))  # type: ignore[misc]
            candidates = mutated + crossed
            candidates += breed(self.population - len(candidates), random_child)
        result.top = top
        result.best, result.best_score = top[0]
        return result


__all__ = ["EvolutionResult", "EvolutionSearch", "EvolutionSearchError", "accuracy", "recalibrate_batch_norm",
           "score_subnet"]
