"""A tiny synthetic tabular benchmark for the model-guided strategies' tests: 4 decisions of 4
values (256 samples), a fixed table of additive effects plus pairwise interactions (seeded), so
that neighbours score alike — the structure NAS-Bench-201 has — and one sample is the optimum."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from archspace.space import Categorical, SearchSpace
from archspace.strategy import Strategy

LABELS = ("a", "b", "c", "d")


def tiny_space() -> SearchSpace:
    return SearchSpace({label: Categorical([0, 1, 2, 3], label) for label in LABELS})


def tiny_table() -> dict[tuple[int, ...], float]:
    rng = random.Random(2024)
    main = {(i, v): rng.gauss(0, 1) for i in range(4) for v in range(4)}
    pair = {(i, j, u, v): rng.gauss(0, 0.4) for i, j in itertools.combinations(range(4), 2)
            for u in range(4) for v in range(4)}
    table = {}
    for values in itertools.product(range(4), repeat=4):
        score = sum(main[i, v] for i, v in enumerate(values))
        score += sum(pair[i, j, values[i], values[j]] for i, j in itertools.combinations(range(4), 2))
        table[values] = score
    return table


def trials_to_optimum(factory: Callable[[], Strategy], seed: int, budget: int = 256) -> int:
    """How many trials ``factory()``'s strategy needs to ask the table's optimum (budget + 1: never)."""
    table = tiny_table()
    best = max(table.values())
    strategy = factory()
    strategy.setup(tiny_space(), seed)
    for trial in range(1, budget + 1):
        sample: Any = strategy.ask()
        if sample is None:
            break
        value = table[tuple(sample[label] for label in LABELS)]
        if value == best:
            return trial
        strategy.tell(sample, value)
    return budget + 1
