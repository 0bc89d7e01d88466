"""BenchmarkEvaluator's direction: explicit or from the table's metadata, never guessed from a name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archspace.benchmarks import NB201_DIRECTIONS, BenchmarkEvaluator, BenchmarkTableError, NB201Table, load_table
from archspace.experiment import Experiment
from archspace.hub import NasBench201, to_arch_str
from archspace.strategy import Random

TABLE_PATH = Path(os.environ.get("ARCHSPACE_NB201_TABLE",
                                 Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"))


@pytest.fixture(scope="module")
def error_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The NB201 table with its validation accuracy turned into an error (lower is better)."""
    assert TABLE_PATH.exists(), f"the NB201 table is expected at {TABLE_PATH}"
    rows = load_table(TABLE_PATH)
    path = tmp_path_factory.mktemp("nb201") / "errors.csv"
    lines = ["arch,valid_error,test_error"]
    lines += [f"{arch},{100 - row['cifar10_valid']:.4f},{100 - row['cifar10_test']:.4f}" for arch, row in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_unknown_column_is_refused_not_guessed(error_table: Path) -> None:
    table = load_table(error_table)
    assert table.directions == {}
    with pytest.raises(BenchmarkTableError, match=r"direction of column 'valid_error' is not known.*'maximize', 'minimize'"):
        BenchmarkEvaluator(table, "valid_error", extra=())


def test_an_explicit_direction_is_used_and_a_search_minimises(error_table: Path) -> None:
    evaluator = BenchmarkEvaluator(error_table, "valid_error", extra=("test_error",), direction="minimize")
    assert evaluator.direction == "minimize"
    experiment = Experiment(NasBench201(channels=4, num_cells=1), evaluator, Random(), max_trials=25,
                            executor="inline", progress=False)
    trials = experiment.run()
    assert experiment.direction == "minimize"
    best = experiment.best(1)[0]
    assert best.metric == min(t.metric for t in trials if t.metric is not None)
    assert best.metric == evaluator.table[to_arch_str(best.sample)]["valid_error"]


def test_the_direction_comes_from_the_tables_metadata(error_table: Path) -> None:
    table = load_table(error_table, directions={"valid_error": "minimize"})
    assert BenchmarkEvaluator(table, "valid_error", extra=()).direction == "minimize"
    assert table.best("valid_error") == min(row["valid_error"] for row in table.values())
    nb201 = load_table(TABLE_PATH)
    assert nb201.directions == {c: NB201_DIRECTIONS[c] for c in nb201.columns}
    assert BenchmarkEvaluator(nb201).direction == "maximize"
    assert BenchmarkEvaluator(nb201, "params_m", extra=()).direction == "minimize"
    assert BenchmarkEvaluator(nb201, "cifar10_valid", direction="minimize").direction == "minimize"  # explicit wins
    assert round(nb201.best("cifar10_valid"), 2) == 91.61  # the README's optimum
    assert nb201.best("params_m") == min(row["params_m"] for row in nb201.values())


def test_bad_directions_are_named() -> None:
    table = NB201Table({"a": {"acc": 1.0}}, ["acc"], "t.csv", {"acc": "maximize"})
    with pytest.raises(BenchmarkTableError, match="direction must be one of \\['maximize', 'minimize'\\], got 'max'"):
        BenchmarkEvaluator(table, "acc", extra=(), direction="max")
    with pytest.raises(BenchmarkTableError, match="column 'acc' has direction 'up'"):
        NB201Table({}, ["acc"], "t.csv", {"acc": "up"})
    with pytest.raises(BenchmarkTableError, match="column 'loss' is not in the table"):
        table.direction("loss")
