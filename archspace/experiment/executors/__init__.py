"""Executors: where a multi-trial run's trials run (inline, a process pool, Ray), one interface.

See :mod:`archspace.experiment.executors.base` for the protocol. ``EXECUTORS`` names them for
``Experiment(executor="...")`` and configs; Ray is imported only when a Ray executor starts.
"""

from __future__ import annotations

from typing import Any

from archspace.experiment.executors.base import Executor, Judge
from archspace.experiment.executors.inline import InlineExecutor
from archspace.experiment.executors.process import ProcessExecutor, WorkerStartupError
from archspace.experiment.executors.ray import RayExecutor
from archspace.registry import Registry


def ray_executor(concurrency: int = 1, trial_timeout: float | None = None, **options: Any) -> Executor:
    """``executor="ray"``: a :class:`~archspace.experiment.executors.ray.RayExecutor`.

    Options as the class takes them (``ray_address``, ``resources_per_trial``, ``max_retries``, ...).
    """
    return RayExecutor(concurrency, trial_timeout, **options)


EXECUTORS: Registry[Executor] = Registry("executor", entries={"inline": InlineExecutor, "process": ProcessExecutor,
                                                              "ray": ray_executor})

__all__ = ["EXECUTORS", "Executor", "InlineExecutor", "Judge", "ProcessExecutor", "RayExecutor",
           "WorkerStartupError", "ray_executor"]
