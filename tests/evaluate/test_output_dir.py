"""Every trial gets its own output folder, <experiment directory>/trials/<id>/, on every executor."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from torch import nn

from archspace.evaluate import FunctionalEvaluator, TrialContext
from archspace.experiment import Experiment
from archspace.strategy import GridSearch
from archspace.testing import TinySpace


def write_marker(model: nn.Module, ctx: TrialContext) -> dict[str, object]:
    """Writes a file into the trial's folder and says where it was (module level: workers import it)."""
    out = ctx.output_dir
    if out is None:
        return {"default": 0.0, "dir": None}
    (out / "marker.txt").write_text(f"{ctx.trial_id} {os.getpid()}")
    return {"default": float(ctx.sample["x"]), "dir": str(out)}


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_each_trial_writes_into_its_own_folder(tmp_path: Path, executor: str) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(write_marker), GridSearch(), max_trials=3,
                            executor=executor, directory=tmp_path, progress=False)
    trials = experiment.run()
    assert [t.status.value for t in trials] == ["succeeded"] * 3
    for trial in trials:
        folder = tmp_path / "trials" / str(trial.id)
        assert trial.metrics["dir"] == str(folder)
        assert (folder / "marker.txt").read_text().split()[0] == str(trial.id)
    if executor == "process":  # written by the workers, not the driver
        assert all((tmp_path / "trials" / str(t.id) / "marker.txt").read_text().split()[1] != str(os.getpid())
                   for t in trials)


def test_in_memory_experiments_have_no_output_folder() -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(write_marker), GridSearch(), max_trials=1,
                            executor="inline", progress=False)
    assert experiment.run()[0].metrics["dir"] is None


def test_trials_that_write_nothing_leave_no_folder(tmp_path: Path) -> None:
    Experiment(TinySpace(), FunctionalEvaluator(lambda model, ctx: 1.0), GridSearch(), max_trials=2,
               executor="inline", directory=tmp_path, progress=False).run()
    assert not (tmp_path / "trials").exists()
