"""Regressions found in review: each once broke the engine."""

from __future__ import annotations

from pathlib import Path

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.storage import SQLiteStorage
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment.helpers import RecordingGrid, numpy_extras, slow_metric, unserializable, x_metric


def test_numpy_and_torch_extra_metrics_are_stored_as_plain_data(tmp_path: Path) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(numpy_extras), RecordingGrid(), max_trials=2,
                            executor="inline", directory=tmp_path, progress=False)
    trials = experiment.run()
    assert [t.status for t in trials] == ["succeeded"] * 2
    assert trials[0].metrics == {"default": 0.0, "params": 12, "curve": [0.5, 0.25], "loss": 0.125, "nan": None}
    bad = Experiment(TinySpace(), FunctionalEvaluator(unserializable), RecordingGrid(), max_trials=2,
                     executor="inline", directory=tmp_path / "bad", progress=False)
    failed = bad.run()  # the driver survives; the trial fails with the reason
    assert [t.status for t in failed] == ["failed"] * 2 and "'model'" in (failed[0].error or "")


def test_timeout_clock_starts_when_the_worker_starts_the_trial(tmp_path: Path) -> None:
    # Spawned workers take longer than the timeout to boot; 0.4 s trials must still succeed.
    experiment = Experiment(TinySpace(), FunctionalEvaluator(slow_metric), RecordingGrid(), max_trials=4,
                            concurrency=2, directory=tmp_path, trial_timeout=1.5, progress=False)
    assert [t.status for t in experiment.run()] == ["succeeded"] * 4


def test_results_are_told_once_across_repeated_resumes(tmp_path: Path) -> None:
    def make(max_trials: int = 6, max_duration: float | None = None) -> Experiment:
        return Experiment(TinySpace(), FunctionalEvaluator(slow_metric), RecordingGrid(), max_trials=max_trials,
                          max_duration=max_duration, executor="inline", directory=tmp_path, progress=False)

    make(max_trials=3).run()
    store = SQLiteStorage(tmp_path / "experiment.db")
    state, told = store.load_strategy()
    assert state is not None and sorted(told) == [0, 1, 2]
    # A crash right after trial 2 was committed, before the strategy checkpoint: forget its tell.
    state["told"] = state["told"][:2]
    store.save_strategy(state, [])
    store._db.execute("UPDATE trials SET told = 0 WHERE id = 3")  # trial 2 (rowid 3) not yet told
    make(max_duration=1e-6).resume()  # catches up on trial 2, then stops at once
    make().resume()
    state, told = SQLiteStorage(tmp_path / "experiment.db").load_strategy()
    assert state is not None and sorted(told) == list(range(6))
    assert len(state["told"]) == 6  # every result reached the strategy exactly once


def test_checkpoints_leave_out_the_growing_seen_set_and_resume_rebuilds_it(tmp_path: Path) -> None:
    def make(max_trials: int) -> Experiment:
        return Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=max_trials,
                          executor="inline", directory=tmp_path, progress=False, seed=5)

    make(6).run()
    state, _ = SQLiteStorage(tmp_path / "experiment.db").load_strategy()
    assert state is not None and "seen" not in state  # flat per-trial cost: nothing that grows per trial
    trials = make(16).resume()  # the whole 16-sample space: only possible without repeats
    assert len({tuple(sorted(t.sample.items())) for t in trials}) == 16
