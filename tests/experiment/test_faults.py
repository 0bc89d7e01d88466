"""Real faults in real worker processes: exceptions, SIGKILL, timeouts, bad metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.storage import SQLiteStorage
from archspace.testing import TinySpace
from tests.experiment.helpers import RecordingGrid, faulty


@pytest.mark.parametrize("executor", ["process", "inline"])
def test_each_fault_is_recorded_and_the_experiment_completes(tmp_path: Path, executor: str) -> None:
    space = TinySpace()
    # Inline trials run in this very process: keep the self-killing sample (x=2) out of them.
    grid = RecordingGrid(filter=None if executor == "process" else lambda s: s["x"] not in (2, 3))
    experiment = Experiment(space, FunctionalEvaluator(faulty), grid, max_trials=10, concurrency=2,
                            executor=executor, directory=tmp_path, trial_timeout=3, progress=False)
    for x in (1, 2, 3, 4, 5) if executor == "process" else (1, 3, 4, 5):
        experiment.enqueue({"x": x, "hidden": 2})
    trials = experiment.run()
    assert len(trials) == 10 and [t.id for t in trials] == list(range(10))
    by_x = {t.sample["x"]: t for t in trials if t.sample["hidden"] == 2 and t.id < (5 if executor == "process" else 4)}
    assert by_x[1].status == "failed" and "ValueError: evaluator exploded on purpose" in (by_x[1].error or "")
    if executor == "process":
        assert by_x[2].status == "failed" and "killed by SIGKILL" in (by_x[2].error or "")
        assert by_x[3].status == "timeout" and "timeout of 3" in (by_x[3].error or "")
        assert len({t.worker for t in trials}) >= 3  # killed workers were replaced
    else:
        assert by_x[3].status == "timeout"
    assert by_x[4].status == "failed" and "finite number" in (by_x[4].error or "")
    assert by_x[5].status == "failed" and "'high'" in (by_x[5].error or "")
    ok = [t for t in trials if t.status == "succeeded"]
    assert ok and all(t.metric == float(t.sample["x"]) for t in ok)
    # Every trial was committed, then told to the strategy, and the checkpoint says so.
    storage = SQLiteStorage(tmp_path / "experiment.db")
    state, told = storage.load_strategy()
    assert sorted(told) == list(range(10))
    assert state is not None and len(state["told"]) == 10
    assert sum(r is None for _, r in state["told"]) == 10 - len(ok)
    assert (tmp_path / "experiment.log").read_text().count("failed") >= 3
