"""BANANAS: the ensemble predicts, the acquisition exploits a confident model, the encodings are
right, and on a tiny table it finds the optimum sooner than Random (contracts: test_contract.py)."""

from __future__ import annotations

import numpy as np
import torch

from archspace.hub import NasBench201
from archspace.hub.nasbench201 import from_arch_str
from archspace.space import Categorical, Condition, SearchSpace
from archspace.strategy import BANANAS, Random
from archspace.strategy._encoding import Encoder
from archspace.strategy._mlp import MLPEnsemble
from archspace.strategy._surrogate import acquisition_values
from tests.strategy.tiny_table import LABELS, tiny_space, tiny_table, trials_to_optimum


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_the_ensemble_ranks_held_out_samples_of_a_known_function() -> None:
    table = tiny_table()
    keys = sorted(table)
    order = np.random.default_rng(0).permutation(len(keys))
    samples = [dict(zip(LABELS, keys[i])) for i in order]
    y = np.array([table[keys[i]] for i in order])
    x = Encoder(tiny_space()).encode(samples)
    net = MLPEnsemble(x.shape[1], members=5, hidden=32, seed=0)
    net.fit(x[:120], (y[:120] - y[:120].mean()) / y[:120].std(), steps=400)
    assert _spearman(net.predict(x[120:]).mean(axis=0), y[120:]) > 0.8


def test_the_acquisition_picks_the_predicted_best_when_the_model_is_sure() -> None:
    mean = np.array([0.1, 0.9, 0.5, -0.3])
    rng = np.random.default_rng(0)
    for kind in ("its", "ei", "mean"):
        assert int(np.argmax(acquisition_values(kind, mean, np.full(4, 1e-4), 0.0, rng))) == 1
    # unsure about a worse candidate: ei values the chance that it is better
    assert int(np.argmax(acquisition_values("ei", np.array([0.5, 0.4]), np.array([1e-4, 2.0]), 0.5, rng))) == 1


def test_the_generic_encoding_masks_inactive_decisions_and_scales_numbers() -> None:
    space = SearchSpace({"op": Categorical(["conv", "pool"], "op"), "k": Categorical([1, 3, 5], "k")},
                        {"k": Condition.always().require("op", ["conv"])})
    encoder = Encoder(space)
    assert encoder.encode([{"op": "conv", "k": 5}, {"op": "pool"}]).tolist() == [[1, 0, 1, 1], [0, 1, 0, 0]]


def test_the_path_encoding_counts_the_paths_of_an_nb201_cell() -> None:
    space = NasBench201(channels=4, num_cells=1).search_space()
    cell = from_arch_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    encoder = Encoder(space, "path")
    assert encoder.dim == 4 + 16 + 64  # paths of 1, 2 and 3 non-none ops
    row = encoder.encode([cell])[0]
    # skip (0->3); conv3 conv3 (0->1->3); conv3 conv1 (0->2->3); 0->1->2->3 is cut by none
    assert row.sum() == 3 and row[1 - 1 + 0] == 1.0 and row[4 + 2 * 4 + 2] == 1.0 and row[4 + 2 * 4 + 1] == 1.0
    assert Encoder(space, "auto").dim == 30 + 84


def _small() -> BANANAS:
    return BANANAS(n_initial=5, n_random=10, n_parents=5, initial_steps=100, steps_per_fit=10, hidden=16)


def test_it_finds_the_optimum_of_a_tiny_table_sooner_than_random() -> None:
    seeds = range(3)
    ours = [trials_to_optimum(_small, seed) for seed in seeds]
    random = [trials_to_optimum(Random, seed) for seed in seeds]
    assert sum(ours) < sum(random) / 2, (ours, random)


def _run(threads: int) -> list[tuple[int, ...]]:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        strategy = _small()
        strategy.setup(tiny_space(), seed=7)
        table = tiny_table()
        asked: list[tuple[int, ...]] = []
        for _ in range(12):
            sample = strategy.ask()
            assert sample is not None
            asked.append(tuple(sample[label] for label in LABELS))
            strategy.tell(sample, table[asked[-1]])
        return asked
    finally:
        torch.set_num_threads(before)


def test_runs_do_not_depend_on_torch_threads() -> None:
    assert _run(1) == _run(2)


def test_a_partial_result_joins_the_data() -> None:
    strategy = _small()
    strategy.setup(tiny_space(), seed=0)
    sample = strategy.ask()
    assert sample is not None
    strategy.tell(sample, 0.5, partial=True)
    assert strategy.state_dict()["values"] == [0.5]
