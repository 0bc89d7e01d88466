"""Module-level evaluators for the Ray executor tests (Ray workers import them by name), and a
driver script: ``python -m tests.experiment.ray_helpers DIR`` runs :func:`experiment` in DIR."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from torch import nn

from archspace.evaluate import Evaluator, TrialContext
from archspace.experiment import Experiment
from archspace.experiment.executors.ray import RayExecutor
from archspace.strategy import Random
from archspace.testing import TinySpace


def curve(model: nn.Module, ctx: TrialContext) -> float:
    """Three reported steps (x/4, x/2, x) over ~0.15 s, then x: a small learning curve."""
    x = float(ctx.sample["x"])
    for step, value in enumerate((x / 4, x / 2, x), start=1):
        time.sleep(0.05)
        ctx.report(value, step=step)
    return x


def long_curve(model: nn.Module, ctx: TrialContext) -> float:
    """Five steps 0.3 s apart, values trial_id + step/10: long enough to be stopped part-way."""
    for step in range(1, 6):
        time.sleep(0.3)
        ctx.report(ctx.trial_id + step / 10, step=step)
    return float(ctx.trial_id + 1)


def write_pid(folder: str | os.PathLike[str], name: str) -> None:
    """Publish this process's pid as ``folder/name`` (atomically: a reader never sees half a pid)."""
    path = Path(folder) / name
    path.with_suffix(".tmp").write_text(str(os.getpid()))
    path.with_suffix(".tmp").replace(path)


class SleepsOnce(Evaluator):
    """Trial ``victim`` publishes its worker's pid as ``folder/pid`` and sleeps a minute (to be killed);
    when the pid file already exists (a retry), and for every other trial, it returns the sample's x."""

    needs_model = False

    def __init__(self, folder: str, victim: int) -> None:
        self.folder = folder
        self.victim = victim

    def evaluate(self, model: Any, ctx: TrialContext) -> float:
        if ctx.trial_id == self.victim and not (Path(self.folder) / "pid").exists():
            write_pid(self.folder, "pid")
            time.sleep(60)
        return float(ctx.sample["x"])


class PidAndSleep(Evaluator):
    """Publishes its worker's pid as ``folder/<trial id>.pid``, sleeps 0.5 s (a minute from trial
    ``hang_from`` on, to be stopped mid-trial), returns x + hidden/10."""

    needs_model = False

    def __init__(self, folder: str, hang_from: int | None = None) -> None:
        self.folder = folder
        self.hang_from = hang_from

    def evaluate(self, model: Any, ctx: TrialContext) -> float:
        write_pid(self.folder, f"{ctx.trial_id}.pid")
        time.sleep(60 if self.hang_from is not None and ctx.trial_id >= self.hang_from else 0.5)
        return float(ctx.sample["x"]) + ctx.sample["hidden"] / 10


def experiment(directory: str | os.PathLike[str], hang_from: int | None = None) -> Experiment:
    """The experiment the driver-kill tests run, kill and resume: 12 trials, 2 at a time, on Ray."""
    (Path(directory) / "pids").mkdir(parents=True, exist_ok=True)
    evaluator = PidAndSleep(str(Path(directory) / "pids"), hang_from)
    return Experiment(TinySpace(), evaluator, Random(dedup=True), max_trials=12,
                      executor=RayExecutor(2), directory=directory, seed=3, progress=False)


if __name__ == "__main__":
    experiment(sys.argv[1]).run()
