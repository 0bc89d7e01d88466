"""GPBO: the GP ranks held-out samples of a known function, believes pending samples, and finds
a tiny table's optimum sooner than Random (contracts: test_contract.py)."""

from __future__ import annotations

import numpy as np

from archspace.strategy import GPBO, Random
from archspace.strategy._encoding import Encoder
from archspace.strategy._gp import CategoricalGP
from tests.strategy.tiny_table import LABELS, tiny_space, tiny_table, trials_to_optimum


def test_the_gp_ranks_held_out_samples_of_a_known_function() -> None:
    table = tiny_table()
    keys = sorted(table)
    order = np.random.default_rng(1).permutation(len(keys))
    x = Encoder(tiny_space()).encode([dict(zip(LABELS, keys[i])) for i in order])
    y = np.array([table[keys[i]] for i in order])
    y = (y - y[:120].mean()) / y[:120].std()
    gp = CategoricalGP(decisions=len(LABELS))
    gp.select(x[:120], y[:120])
    gp.condition(x[:120], y[:120])
    mean, std = gp.predict(x[120:])
    ranks = np.argsort(np.argsort(mean)), np.argsort(np.argsort(y[120:]))
    assert np.corrcoef(*ranks)[0, 1] > 0.8
    _, seen_std = gp.predict(x[:5])
    assert seen_std.max() < std.mean()  # sure where it has data


def _small() -> GPBO:
    return GPBO(n_initial=5, n_random=10, n_parents=5)


def test_a_pending_sample_is_believed_and_the_next_ask_goes_elsewhere() -> None:
    strategy = _small()
    strategy.setup(tiny_space(), seed=3)
    table = tiny_table()
    for _ in range(8):
        sample = strategy.ask()
        assert sample is not None
        strategy.tell(sample, table[tuple(sample[label] for label in LABELS)])
    first, second = strategy.ask(), strategy.ask()
    assert first != second
    pending = strategy.state_dict()["pending"]
    assert len(pending) == 2 and all(value is not None for _, value in pending.values())  # believed at their means


def test_it_finds_the_optimum_of_a_tiny_table_sooner_than_random() -> None:
    seeds = range(3)
    ours = [trials_to_optimum(_small, seed) for seed in seeds]
    random = [trials_to_optimum(Random, seed) for seed in seeds]
    assert sum(ours) < sum(random) / 2, (ours, random)
