"""Multi-trial experiments: the loop, executors, and trial events."""

from __future__ import annotations

from archspace.experiment.executor import Executor, InlineExecutor
from archspace.experiment.experiment import (
    EXECUTORS,
    Experiment,
    ExperimentError,
    InvalidSettingError,
    Terminated,
    rank,
    write_export,
)
from archspace.experiment.lock import DirectoryLock, ExperimentLockedError
from archspace.experiment.process import ProcessExecutor, WorkerStartupError
from archspace.experiment.ray_executor import RayExecutor  # imports Ray only when one is started
from archspace.experiment.runner import Finished, Reported, Started, run_trial

__all__ = ["EXECUTORS", "DirectoryLock", "Executor", "Experiment", "ExperimentError", "ExperimentLockedError",
           "Finished", "InlineExecutor", "InvalidSettingError", "ProcessExecutor", "RayExecutor", "Reported", "Started", "Terminated",
           "WorkerStartupError", "rank", "run_trial", "write_export"]
