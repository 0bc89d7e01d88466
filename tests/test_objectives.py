"""Pareto arithmetic: fronts, crowding and hypervolume against brute force."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspace.objectives import (
    Objective,
    ObjectiveError,
    crowding_distance,
    dominates,
    hypervolume,
    non_dominated_sort,
    pareto_indices,
    parse_objectives,
)

values = st.integers(min_value=0, max_value=6).map(float)  # small grid: many ties and duplicates


def objectives_of(dims: int) -> tuple[Objective, ...]:
    return tuple(Objective(f"m{k}", "maximize" if k % 2 == 0 else "minimize") for k in range(dims))


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=3).flatmap(
    lambda d: st.tuples(st.just(d), st.lists(st.tuples(*[values] * d), min_size=1, max_size=25))))
def test_the_front_holds_every_non_dominated_point_and_no_dominated_one(case: tuple[int, list[tuple[float, ...]]]) -> None:
    dims, points = case
    objs = objectives_of(dims)
    front = set(pareto_indices(points, objs))
    for i, p in enumerate(points):
        beaten = any(dominates(q, p, objs) for q in points)
        assert (i in front) == (not beaten)
    fronts = non_dominated_sort(points, objs)
    assert sorted(itertools.chain(*fronts)) == list(range(len(points)))
    for earlier, later in zip(fronts, fronts[1:]):  # each point of a later front is beaten by an earlier one
        assert all(any(dominates(points[i], points[j], objs) for i in earlier) for j in later)


def _grid_volume(points: list[tuple[float, ...]], objs: tuple[Objective, ...], ref: tuple[float, ...]) -> float:
    """Brute force on the integer grid: count unit cells dominated by some point."""
    mins = [[o.to_min(v) for o, v in zip(objs, p)] for p in points]
    r = [o.to_min(v) for o, v in zip(objs, ref)]
    cells = 0
    ranges = [range(int(math.floor(min([p[k] for p in mins] + [r[k]]))), int(r[k])) for k in range(len(objs))]
    for corner in itertools.product(*ranges):
        if any(all(p[k] <= corner[k] for k in range(len(objs))) for p in mins):
            cells += 1
    return float(cells)


@settings(max_examples=120, deadline=None)
@given(st.integers(min_value=1, max_value=3).flatmap(
    lambda d: st.tuples(st.just(d), st.lists(st.tuples(*[values] * d), min_size=0, max_size=12))))
def test_hypervolume_equals_counting_grid_cells(case: tuple[int, list[tuple[float, ...]]]) -> None:
    dims, points = case
    objs = objectives_of(dims)
    # reference: worst corner (0 for maximised objectives, 7 for minimised ones)
    ref = tuple(0.0 if o.direction == "maximize" else 7.0 for o in objs)
    assert hypervolume(points, objs, ref) == pytest.approx(_grid_volume(points, objs, ref))


def test_hypervolume_grows_with_a_new_non_dominated_point_and_ignores_dominated_ones() -> None:
    objs = parse_objectives({"acc": "max", "lat": "min"})
    base = [(0.9, 5.0), (0.8, 2.0)]
    ref = (0.0, 10.0)
    hv = hypervolume(base, objs, ref)
    assert hypervolume(base + [(0.85, 4.0)], objs, ref) > hv
    assert hypervolume(base + [(0.7, 6.0)], objs, ref) == pytest.approx(hv)
    assert hypervolume(base + [(0.95, 11.0)], objs, ref) == pytest.approx(hv)  # beyond the reference


def test_crowding_keeps_the_extremes_and_ranks_lonely_points_higher() -> None:
    objs = parse_objectives(["acc:max", "lat:min"])
    front = [(0.5, 1.0), (0.6, 2.0), (0.61, 2.1), (0.9, 9.0)]
    distance = crowding_distance(front, objs)
    assert math.isinf(distance[0]) and math.isinf(distance[3])
    assert distance[1] > 0 and distance[2] > distance[1]  # point 2 borders the far end


def test_random_large_front_matches_a_quadratic_check() -> None:
    rng = random.Random(3)
    objs = parse_objectives([("acc", "maximize"), ("lat", "minimize"), ("params", "min")])
    points = [(rng.random(), rng.random(), rng.random()) for _ in range(300)]
    front = pareto_indices(points, objs)
    brute = [i for i, p in enumerate(points) if not any(dominates(q, p, objs) for q in points)]
    assert front == brute


@pytest.mark.parametrize("spec, match", [
    ({}, "at least one objective"),
    ({"acc": "up"}, "direction must be"),
    (["acc:max", "acc:min"], "declared twice"),
    ("acc", "mapping name -> direction or a list"),
    ([3], "cannot read the objective"),
])
def test_bad_objective_specs_are_named(spec: object, match: str) -> None:
    with pytest.raises(ObjectiveError, match=match):
        parse_objectives(spec)  # type: ignore[arg-type]


def test_points_that_do_not_fit_the_objectives_are_refused() -> None:
    objs = parse_objectives({"acc": "max", "lat": "min"})
    with pytest.raises(ObjectiveError, match="point 1 has 1 values but 2 objectives"):
        pareto_indices([(1.0, 2.0), (1.0,)], objs)
    with pytest.raises(ObjectiveError, match="reference point has 1 values"):
        hypervolume([(1.0, 2.0)], objs, (0.0,))
