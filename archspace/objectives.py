"""Several objectives at once: declared directions, Pareto dominance, fronts, crowding, hypervolume.

A multi-objective search (say accuracy up, latency down) has no single best trial: it has a
front of trials none of which is beaten on every objective by another. This module is the
arithmetic of that front, free of torch and of the experiment, so that strategies (evolution's
selection), the experiment (:meth:`~archspace.Experiment.pareto`), benchmarks and the dashboard
share one definition.

Every function takes points as sequences of floats, one per objective in the declared order, and
the objectives' directions; internally everything is turned into minimisation.

Example:
    >>> objs = parse_objectives({"accuracy": "maximize", "latency_ms": "minimize"})
    >>> [o.name for o in objs]
    ['accuracy', 'latency_ms']
    >>> points = [(0.9, 5.0), (0.8, 2.0), (0.7, 3.0), (0.9, 6.0)]
    >>> pareto_indices(points, objs)
    [0, 1]
    >>> hypervolume([(0.9, 5.0), (0.8, 2.0)], objs, reference=(0.0, 10.0))
    6.9
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archspace.errors import ArchspaceError

DIRECTIONS = ("maximize", "minimize")
_ALIASES = {"max": "maximize", "maximise": "maximize", "maximize": "maximize",
            "min": "minimize", "minimise": "minimize", "minimize": "minimize"}


class ObjectiveError(ArchspaceError, ValueError):
    """Objectives declared wrongly, or points that do not match them."""


@dataclass(frozen=True)
class Objective:
    """One objective: a metric name and whether larger (``maximize``) or smaller is better."""

    name: str
    direction: str = "maximize"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ObjectiveError(f"an objective needs a non-empty metric name, got {self.name!r}")
        if self.direction not in DIRECTIONS:
            raise ObjectiveError(f"objective {self.name!r}: direction must be one of {list(DIRECTIONS)}, "
                                 f"got {self.direction!r}")

    def to_min(self, value: float) -> float:
        """``value`` turned so that smaller is better."""
        return -float(value) if self.direction == "maximize" else float(value)


ObjectivesSpec = Mapping[str, str] | Sequence[Any]


def parse_objectives(spec: ObjectivesSpec) -> tuple[Objective, ...]:
    """Objectives from ``{"name": "maximize", ...}``, ``[("name", "min"), ...]``, ``["acc:max", ...]``
    or :class:`Objective` objects; the order given is the order of every point's values.

    Raises:
        ObjectiveError: an empty spec, a repeated name or an unknown direction.
    """
    items: list[tuple[Any, Any]] = []
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        for entry in spec:
            if isinstance(entry, Objective):
                items.append((entry.name, entry.direction))
            elif isinstance(entry, str):
                name, _, direction = entry.partition(":")
                items.append((name.strip(), direction.strip() or "maximize"))
            elif isinstance(entry, (list, tuple)) and len(entry) == 2:
                items.append((entry[0], entry[1]))
            else:
                raise ObjectiveError(f"cannot read the objective {entry!r}; give 'name:max', ('name', 'minimize') "
                                     "or an Objective")
    else:
        raise ObjectiveError(f"objectives must be a mapping name -> direction or a list, got {type(spec).__name__}")
    if not items:
        raise ObjectiveError("at least one objective is needed")
    objectives = []
    for name, direction in items:
        canonical = _ALIASES.get(str(direction).lower()) if isinstance(direction, str) else None
        if canonical is None:
            raise ObjectiveError(f"objective {name!r}: direction must be 'maximize' or 'minimize' (or max/min), "
                                 f"got {direction!r}")
        objectives.append(Objective(str(name), canonical))
    names = [o.name for o in objectives]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ObjectiveError(f"objective(s) {repeated} declared twice")
    return tuple(objectives)


def _as_min(points: Sequence[Sequence[float]], objectives: Sequence[Objective]) -> list[tuple[float, ...]]:
    out = []
    for i, point in enumerate(points):
        if len(point) != len(objectives):
            raise ObjectiveError(f"point {i} has {len(point)} values but {len(objectives)} objectives are declared "
                                 f"({[o.name for o in objectives]})")
        values = tuple(o.to_min(v) for o, v in zip(objectives, point))
        if any(math.isnan(v) for v in values):
            raise ObjectiveError(f"point {i} holds NaN: {tuple(point)}")
        out.append(values)
    return out


def _dominates_min(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def dominates(a: Sequence[float], b: Sequence[float], objectives: Sequence[Objective]) -> bool:
    """True when ``a`` is at least as good as ``b`` on every objective and better on one."""
    pa, pb = _as_min([a, b], objectives)
    return _dominates_min(pa, pb)


def non_dominated_sort(points: Sequence[Sequence[float]], objectives: Sequence[Objective]) -> list[list[int]]:
    """Indices grouped into successive fronts (NSGA-II's fast non-dominated sort), best front first."""
    values = _as_min(points, objectives)
    n = len(values)
    beaten_by = [0] * n
    beats: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if _dominates_min(values[i], values[j]):
                beats[i].append(j)
                beaten_by[j] += 1
            elif _dominates_min(values[j], values[i]):
                beats[j].append(i)
                beaten_by[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if beaten_by[i] == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def pareto_indices(points: Sequence[Sequence[float]], objectives: Sequence[Objective]) -> list[int]:
    """Indices of the non-dominated points, in input order (equal points are all kept).

    Two objectives take a sort and a sweep (O(n log n): the whole NB201 table's front in
    milliseconds); more objectives the quadratic non-dominated sort.
    """
    if len(objectives) == 2:
        values = _as_min(points, objectives)
        order = sorted(range(len(values)), key=lambda i: values[i])
        kept: list[int] = []
        best_second = math.inf
        best_first = math.nan
        for i in order:
            first, second = values[i]
            # kept unless an earlier point (smaller or equal first value) is strictly better somewhere
            if second < best_second or (second == best_second and first == best_first):
                kept.append(i)
                if second < best_second:
                    best_second, best_first = second, first
        return sorted(kept)
    fronts = non_dominated_sort(points, objectives)
    return sorted(fronts[0]) if fronts else []


def crowding_distance(points: Sequence[Sequence[float]], objectives: Sequence[Objective]) -> list[float]:
    """NSGA-II's crowding distance of each point within ``points`` (one front): larger = lonelier.

    The extremes of every objective get infinity, so selection keeps the ends of the front.
    """
    values = _as_min(points, objectives)
    n = len(values)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for k in range(len(objectives)):
        order = sorted(range(n), key=lambda i: values[i][k])
        low, high = values[order[0]][k], values[order[-1]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(order, order[1:], order[2:]):
            distance[here] += (values[after][k] - values[before][k]) / (high - low)
    return distance


def _hv_min(points: list[tuple[float, ...]], reference: tuple[float, ...]) -> float:
    """Hypervolume of minimisation points against ``reference`` (slicing over the last objective)."""
    points = [p for p in points if all(x < r for x, r in zip(p, reference))]
    if not points:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in points)
    if len(reference) == 2:  # a sweep: sorted by the first objective, keep the staircase
        volume, best_second = 0.0, reference[1]
        for x, y in sorted(points):
            if y < best_second:
                volume += (reference[0] - x) * (best_second - y)
                best_second = y
        return volume
    # d > 2: slice along the last objective; each slab's volume is the (d-1)-volume of the points
    # at or below it times its thickness (exact; fine for the hundreds of points a NAS run has)
    levels = sorted({p[-1] for p in points}) + [reference[-1]]
    volume = 0.0
    for low, high in zip(levels, levels[1:]):
        below = [p[:-1] for p in points if p[-1] <= low]
        volume += _hv_min(below, reference[:-1]) * (high - low)
    return volume


def hypervolume(points: Sequence[Sequence[float]], objectives: Sequence[Objective],
                reference: Sequence[float]) -> float:
    """The volume of objective space that ``points`` dominate, bounded by ``reference``.

    ``reference`` is given in the objectives' own units (e.g. accuracy 0, latency 20 ms): the
    worst value of each objective that still counts. Points not better than it on every
    objective add nothing. Exact (no Monte Carlo), so two strategies' figures compare directly.
    """
    if len(reference) != len(objectives):
        raise ObjectiveError(f"the reference point has {len(reference)} values but {len(objectives)} objectives "
                             "are declared")
    ref = tuple(o.to_min(r) for o, r in zip(objectives, reference))
    return _hv_min(_as_min(points, objectives), ref)


__all__ = ["Objective", "ObjectiveError", "crowding_distance", "dominates", "hypervolume", "non_dominated_sort",
           "parse_objectives", "pareto_indices"]
