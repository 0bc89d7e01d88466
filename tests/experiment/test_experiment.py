"""The experiment API: results, best/export, bad input, overhead sanity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import archspace as asp
from archspace.errors import ArchspaceError, SampleError
from archspace.evaluate import Classification, FunctionalEvaluator, Regression
from archspace.experiment import Experiment, ExperimentError
from archspace.storage import SQLiteStorage, StorageError
from archspace.strategy import GridSearch, Random, Strategy
from archspace.testing import ExampleNet, TinySpace
from tests.experiment.helpers import x_metric


def test_process_run_records_everything(tmp_path: Path) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), GridSearch(), max_trials=16,
                            concurrency=2, directory=tmp_path, progress=False)
    trials = experiment.run()
    assert [t.status for t in trials] == ["succeeded"] * 16
    assert all(t.intermediates == [(1, t.sample["x"] / 2)] for t in trials)
    assert all(t.worker in ("worker-0", "worker-1") and t.duration is not None for t in trials)
    assert [t.metric for t in experiment.best(3)] == [7.0, 7.0, 6.0]
    path = experiment.export(tmp_path / "best.json", k=3)
    data = json.loads(path.read_text())
    assert data["metric"] == 7.0 and len(data["top"]) == 3
    with asp.fixed_arch(path):
        model = TinySpace()
    assert model.x == 7


def test_minimize_direction_and_in_memory_storage() -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric, direction="minimize"), GridSearch(),
                            executor="inline", progress=False)
    experiment.run()
    assert experiment.best(1)[0].metric == 0.0 and len(experiment.trials()) == 16


def test_classification_and_regression_evaluators_train_for_real() -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0).long()
    evaluator = Classification((x[:192], y[:192]), (x[192:], y[192:]), epochs=3, learning_rate=1e-2)
    experiment = Experiment(ExampleNet(), evaluator, Random(), max_trials=2, executor="inline", progress=False)
    trials = experiment.run()
    assert all(t.status == "succeeded" and len(t.intermediates) == 3 for t in trials)
    assert max(t.metric or 0 for t in trials) > 0.7  # a learnable task, really learned

    class Reg(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.fc = asp.nn.Linear(4, asp.choice("h", [8, 16]))
            self.out = asp.nn.Linear(asp.choice("h", [8, 16]), 1)

        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return self.out(torch.relu(self.fc(v)))

    xs = torch.randn(200, 4)
    ys = xs.sum(1, keepdim=True)
    reg = Regression((xs, ys), (xs, ys), epochs=20, learning_rate=1e-2)
    experiment = Experiment(Reg(), reg, GridSearch(), executor="inline", progress=False)
    assert experiment.direction == "minimize"
    experiment.run()
    assert experiment.best(1)[0].metric < 0.5  # MSE well below the target's variance (4)


def test_enqueued_sample_outside_the_space() -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), executor="inline")
    with pytest.raises(SampleError, match="'x'"):
        experiment.enqueue({"x": 99, "hidden": 2})


class Rogue(Strategy):
    def _propose(self) -> dict[str, object]:
        return {"x": 1, "hidden": 3}


def test_strategy_proposing_outside_the_space(tmp_path: Path) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), Rogue(), max_trials=3, executor="inline",
                            directory=tmp_path, progress=False)
    with pytest.raises(ExperimentError, match=r"Rogue proposed a sample outside the space.*'hidden'"):
        experiment.run()
    assert SQLiteStorage(tmp_path / "experiment.db").trials() == []


def test_directory_holding_another_experiment_is_left_intact(tmp_path: Path) -> None:
    Experiment(TinySpace(), FunctionalEvaluator(x_metric), GridSearch(), max_trials=4, executor="inline",
               directory=tmp_path, progress=False).run()
    other = Experiment(ExampleNet(), FunctionalEvaluator(x_metric), GridSearch(), max_trials=4, executor="inline",
                       directory=tmp_path, progress=False)
    with pytest.raises(StorageError, match=r"holds another experiment \(space: stored .*TinySpace"):
        other.run()
    same = Experiment(TinySpace(), FunctionalEvaluator(x_metric), GridSearch(), max_trials=4, executor="inline",
                      directory=tmp_path, progress=False)
    with pytest.raises(ExperimentError, match="resume"):
        same.run()
    store = SQLiteStorage(tmp_path / "experiment.db")
    assert len(store.trials()) == 4 and all(t.status == "succeeded" for t in store.trials())
    assert (store.get_config() or {})["space"].endswith("TinySpace")


def test_unpicklable_evaluator_with_process_executor() -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(lambda model, ctx: 1.0), Random(), max_trials=1,
                            progress=False)
    with pytest.raises(ArchspaceError, match="cannot be pickled.*executor='inline'"):
        experiment.run()


def test_bad_settings() -> None:
    with pytest.raises(ExperimentError, match="direction"):
        Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), direction="up", executor="inline").run()
    with pytest.raises(ExperimentError, match=r"unknown executor 'slurm'; known executors: \['inline', 'process', 'ray'\]"):
        Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), executor="slurm").run()
    with pytest.raises(ExperimentError, match="nothing to resume"):
        Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), executor="inline").resume()


def test_max_duration_stops_the_run(tmp_path: Path) -> None:
    from tests.experiment.helpers import slow_metric

    experiment = Experiment(TinySpace(), FunctionalEvaluator(slow_metric), Random(), max_duration=1.0,
                            executor="inline", directory=tmp_path, progress=False)
    trials = experiment.run()
    assert 1 <= len(trials) <= 4
