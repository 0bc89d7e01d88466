"""LocalSearch: it asks exactly the neighbourhood, climbs to the best neighbour, restarts at a
local optimum, and finds a tiny table's optimum sooner than Random (contracts: test_contract.py)."""

from __future__ import annotations

import random

from archspace.space import Categorical, Condition, SearchSpace
from archspace.strategy import LocalSearch, Random
from archspace.strategy._sampling import neighbours
from tests.strategy.tiny_table import trials_to_optimum


def _space() -> SearchSpace:
    return SearchSpace({label: Categorical([0, 1, 2], label) for label in "abcd"})


def _hamming(a: dict, b: dict) -> int:
    return sum(a[k] != b[k] for k in a)


def test_it_asks_exactly_the_neighbourhood_then_moves_to_the_best_neighbour() -> None:
    strategy = LocalSearch()
    strategy.setup(_space(), seed=0)
    center = strategy.ask()
    assert center is not None
    strategy.tell(center, 0.0)
    around = [strategy.ask() for _ in range(8)]
    assert all(a is not None and _hamming(a, center) == 1 for a in around)
    assert len({tuple(sorted(a.items())) for a in around}) == 8  # 4 decisions x 2 other values, each once
    for i, sample in enumerate(around):
        strategy.tell(sample, float(i))  # the last one asked is the best
    best = around[-1]
    # its 8 neighbours but the old centre and the third value of the decision that moved (both asked)
    following = [strategy.ask() for _ in range(6)]
    asked = [center, *around]
    expected = [n for n in neighbours(_space(), best, random.Random(0)) if n not in asked]
    assert sorted(map(str, following)) == sorted(map(str, expected))


def test_a_local_optimum_restarts_from_a_random_sample() -> None:
    strategy = LocalSearch()
    strategy.setup(_space(), seed=1)
    center = strategy.ask()
    assert center is not None
    strategy.tell(center, 10.0)
    for _ in range(8):
        sample = strategy.ask()
        assert sample is not None
        strategy.tell(sample, 0.0)
    restart = strategy.ask()
    assert restart is not None and _hamming(restart, center) > 1 and strategy.restarts == 1


def test_neighbours_of_a_conditional_sample_reapply_conditions() -> None:
    space = SearchSpace({"op": Categorical(["conv", "pool"], "op"), "k": Categorical([1, 3], "k")},
                        {"k": Condition.always().require("op", ["conv"])})
    assert neighbours(space, {"op": "conv", "k": 1}, random.Random(0)) == [{"op": "pool"}, {"op": "conv", "k": 3}]


def test_it_finds_the_optimum_of_a_tiny_table_sooner_than_random() -> None:
    seeds = range(5)
    ours = [trials_to_optimum(LocalSearch, seed) for seed in seeds]
    random = [trials_to_optimum(Random, seed) for seed in seeds]
    assert sum(ours) < sum(random) / 2, (ours, random)
