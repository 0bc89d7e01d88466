"""Schedulers inside experiments: exact resume after SIGKILL, every strategy, evaluators that stop
cleanly or never report, partial results told to strategies, configs, the CLI and bad settings."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from archspace.cli.config import ConfigError, from_config
from archspace.cli.main import main
from archspace.errors import UnknownNameError
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, InvalidSettingError
from archspace.oneshot import DARTS
from archspace.schedule import ASHA, Hyperband, MedianStopping
from archspace.storage import SQLiteStorage, StorageError, TrialStatus
from archspace.strategy import STRATEGIES, GridSearch, RegularizedEvolution
from tests.schedule import curves
from tests.schedule.curves import EPOCHS, CurveSpace, careful, curve, silent, swallowing, value

ROOT = Path(__file__).resolve().parents[2]
KILLABLE = Path(__file__).with_name("killable_asha.py")


def _finished(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as conn:
            return int(conn.execute("SELECT count(*) FROM trials WHERE status IN ('succeeded', 'pruned')").fetchone()[0])
    except sqlite3.Error:
        return 0


def _outcome(trials: list[Any]) -> list[tuple[Any, ...]]:
    return [(t.id, t.sample, t.status, t.metric, t.intermediates) for t in trials]


def test_a_resumed_asha_run_makes_the_same_promotions_as_an_uninterrupted_one(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCHSPACE_TEST_EPOCH_SLEEP", raising=False)
    killed = tmp_path / "killed"
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(killed), "ARCHSPACE_TEST_EPOCH_SLEEP": "0.01",
           "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(KILLABLE)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _finished(killed / "experiment.db") < 12:
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the driver never finished 12 trials"
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    stored = SQLiteStorage(killed / "experiment.db").trials()
    assert 12 <= sum(t.finished for t in stored) < 40  # really killed mid-run

    resumed = curves.build(str(killed)).resume()
    uninterrupted = curves.build(str(tmp_path / "whole")).run()
    assert _outcome(resumed) == _outcome(uninterrupted)
    assert sum(t.status is TrialStatus.PRUNED for t in resumed) > 20


@pytest.mark.parametrize("name", STRATEGIES.list())
def test_every_strategy_runs_with_asha(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHSPACE_TEST_EPOCHS", "9")
    experiment = Experiment(CurveSpace(), FunctionalEvaluator(curve), STRATEGIES.create(name),
                            scheduler=ASHA(max_resource=9), max_trials=10, executor="inline", progress=False)
    trials = experiment.run()
    assert len(trials) == 10 and all(t.finished for t in trials)
    assert any(t.status is TrialStatus.PRUNED for t in trials)
    assert experiment.best(1)


def test_evolution_learns_pruned_trials_with_their_partial_value() -> None:
    strategy = RegularizedEvolution(population_size=30, sample_size=2)
    experiment = Experiment(CurveSpace(), FunctionalEvaluator(curve), strategy, scheduler=ASHA(max_resource=EPOCHS),
                            max_trials=12, executor="inline", progress=False)
    trials = experiment.run()
    population = {repr(sorted(s.items())): v for s, v in strategy.state_dict()["population"]}
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    assert pruned
    for t in pruned:
        assert population[repr(sorted(t.sample.items()))] == t.metric == value(t.sample, t.intermediates[-1][0])


def test_evaluators_that_never_report_run_to_the_end() -> None:
    experiment = Experiment(CurveSpace(), FunctionalEvaluator(silent), GridSearch(), scheduler=ASHA(max_resource=3),
                            max_trials=8, executor="inline", progress=False)
    assert [t.status for t in experiment.run()] == [TrialStatus.SUCCEEDED] * 8


@pytest.mark.parametrize("fn, executor", [(careful, "process"), (swallowing, "inline")])
def test_a_stopped_trial_ends_pruned_whether_it_stops_itself_or_tries_to_swallow_the_stop(fn: Any,
                                                                                          executor: str) -> None:
    experiment = Experiment(CurveSpace(), FunctionalEvaluator(fn), GridSearch(shuffle=True),
                            scheduler=ASHA(max_resource=EPOCHS), max_trials=12, executor=executor, progress=False)
    trials = experiment.run()
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    assert pruned
    for t in pruned:  # nothing reported after the stop; the metric is the last reported value, not -1
        assert t.intermediates[-1][0] in (1, 3, 9) and t.metric == t.intermediates[-1][1]
    assert all(len(t.intermediates) == EPOCHS for t in trials if t.status is TrialStatus.SUCCEEDED)


def test_a_scheduler_that_is_not_one_is_refused_when_the_experiment_is_built() -> None:
    with pytest.raises(InvalidSettingError, match="scheduler must be an archspace Scheduler"):
        Experiment(CurveSpace(), FunctionalEvaluator(silent), GridSearch(), scheduler="asha")  # type: ignore[arg-type]


def test_a_one_shot_search_refuses_a_scheduler() -> None:
    import torch

    from archspace.evaluate import Classification
    from archspace.testing import ExampleNet

    data = torch.utils.data.TensorDataset(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(InvalidSettingError, match="one-shot search .* runs no trials"):
        Experiment(ExampleNet(), Classification(data, data), DARTS(epochs=1), scheduler=ASHA(max_resource=3))


def test_resuming_under_other_scheduler_settings_is_refused(tmp_path: Path) -> None:
    def build(scheduler: Any) -> Experiment:
        return Experiment(CurveSpace(), FunctionalEvaluator(silent), GridSearch(), scheduler=scheduler, max_trials=2,
                          executor="inline", directory=tmp_path, progress=False)

    build(ASHA(max_resource=3)).run()
    with pytest.raises(StorageError, match="scheduler: stored .*'asha'.*now .*'median'"):
        build(MedianStopping()).resume()
    build(ASHA(max_resource=3)).resume()  # the same settings resume


def _config(**overrides: Any) -> dict[str, Any]:
    return {"space": "archspace.testing.spaces:TinySpace", "strategy": "random",
            "evaluator": {"name": "regression", "data": "digits"},
            "experiment": {"max_trials": 1, "executor": "inline", "progress": False}, **overrides}


def test_configs_name_a_scheduler_with_its_settings() -> None:
    experiment = from_config(_config(scheduler={"name": "Hyperband", "max_resource": 9, "brackets": 2}))
    assert isinstance(experiment.scheduler, Hyperband) and experiment.scheduler.brackets == 2
    with pytest.raises(UnknownNameError, match="unknown scheduler 'sha'; known schedulers: .*'asha'"):
        from_config(_config(scheduler="sha"))
    with pytest.raises(ConfigError, match="scheduler 'asha' does not take 'eta'"):
        from_config(_config(scheduler={"name": "asha", "max_resource": 9, "eta": 3}))
    with pytest.raises(ConfigError, match="bad scheduler 'asha' settings: ASHA: min_resource"):
        from_config(_config(scheduler={"name": "asha", "max_resource": 9, "min_resource": 9}))


def test_the_cli_lists_pruned_trials_with_the_step_they_stopped_at(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    Experiment(CurveSpace(), FunctionalEvaluator(curve), GridSearch(shuffle=True), scheduler=ASHA(max_resource=EPOCHS),
               max_trials=8, executor="inline", directory=tmp_path, progress=False).run()
    assert main(["trials", str(tmp_path), "--status", "pruned"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all(" pruned " in row and " @" in row for row in rows)
