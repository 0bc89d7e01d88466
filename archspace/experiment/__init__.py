"""Multi-trial experiments: the loop, executors, and trial events."""

from __future__ import annotations

from archspace.experiment.executor import Executor, InlineExecutor
from archspace.experiment.experiment import EXECUTORS, Experiment, ExperimentError, write_export
from archspace.experiment.process import ProcessExecutor
from archspace.experiment.runner import Finished, Reported, Started, run_trial

__all__ = ["EXECUTORS", "Executor", "Experiment", "ExperimentError", "Finished", "InlineExecutor", "ProcessExecutor",
           "Reported", "Started", "run_trial", "write_export"]
