"""Experiments: the driver, its two kinds of run (multi-trial, one-shot), executors and trial events."""

from __future__ import annotations

from archspace.experiment.errors import ExperimentError, InvalidSettingError, Terminated
from archspace.experiment.executors import (
    EXECUTORS,
    Executor,
    InlineExecutor,
    ProcessExecutor,
    RayExecutor,  # imports Ray only when one is started
    WorkerStartupError,
)
from archspace.experiment.experiment import Experiment
from archspace.experiment.lock import DirectoryLock, ExperimentLockedError
from archspace.experiment.results import rank, write_export
from archspace.experiment.runner import Finished, Reported, Started, run_trial
from archspace.experiment.source import RunSource

__all__ = ["EXECUTORS", "DirectoryLock", "Executor", "Experiment", "ExperimentError", "ExperimentLockedError",
           "Finished", "InlineExecutor", "InvalidSettingError", "ProcessExecutor", "RayExecutor", "Reported",
           "RunSource", "Started", "Terminated", "WorkerStartupError", "rank", "run_trial", "write_export"]
