"""One trial, start to end, as a worker runs it: freeze, evaluate, check the metric."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspace.evaluate.base import Evaluator, TrialContext, TrialPruned, split_result
from archspace.nn.space import ModelSpace
from archspace.storage.base import TrialStatus


@dataclass
class Started:
    """A trial began on a worker."""

    trial_id: int
    worker: str


@dataclass
class Reported:
    """An intermediate result."""

    trial_id: int
    step: int
    value: float


@dataclass
class Finished:
    """A trial's end: status succeeded, failed, timeout or pruned (or interrupted, on shutdown)."""

    trial_id: int
    status: TrialStatus
    metric: float | None = None
    metrics: dict[str, Any] | None = None
    error: str | None = None
    exception: str | None = None  # the exception's type name, when the evaluator raised


Event = Started | Reported | Finished


def trial_output_dir(directory: str | os.PathLike[str] | None, trial_id: int) -> Path | None:
    """The output folder of trial ``trial_id`` in experiment ``directory`` (None in memory).

    The one place that names it (``<directory>/trials/<id>/``): executors pass the experiment
    directory and the runner asks here.
    """
    return None if directory is None else Path(directory) / "trials" / str(trial_id)


def run_trial(
    space: ModelSpace, evaluator: Evaluator, trial_id: int, sample: dict[str, Any],
    report: Callable[[int, float], bool | None], directory: str | os.PathLike[str] | None = None,
) -> Finished:
    """Freeze ``sample``, evaluate it, and return the outcome; exceptions become a failed trial.

    ``directory`` is the experiment directory: the evaluator's ``ctx.output_dir`` lies inside it.
    ``report(step, value)`` carries each intermediate result to the driver and returns its
    verdict (True: stop). A stopped trial ends ``pruned`` with its last reported value, whether
    :class:`TrialPruned` escaped the evaluator or it returned after ``ctx.should_stop()``.
    """
    ctx: TrialContext | None = None
    try:
        import torch

        torch.manual_seed(trial_id)  # a trial's initial weights depend on its id only: runs repeat
        model = space.freeze(sample) if evaluator.needs_model else None
        ctx = TrialContext(trial_id, sample, report, _output_dir=trial_output_dir(directory, trial_id))
        result = evaluator.evaluate(model, ctx)  # type: ignore[arg-type]
        if ctx.should_stop():
            return pruned(trial_id, ctx, evaluator.primary)
        metric, metrics = split_result(result, evaluator.primary)
        return Finished(trial_id, TrialStatus.SUCCEEDED, metric, metrics)
    except TrialPruned:
        assert ctx is not None  # only ctx.report raises it
        return pruned(trial_id, ctx, evaluator.primary)
    except Exception as exc:
        return Finished(trial_id, TrialStatus.FAILED, error=describe(exc), exception=type(exc).__name__)


def pruned(trial_id: int, ctx: TrialContext, primary: str = "default") -> Finished:
    """The end of a trial the scheduler stopped: its last reported value is its (partial) metric."""
    value = ctx.last_reported
    return Finished(trial_id, TrialStatus.PRUNED, value, None if value is None else {primary: value})


def describe(exc: BaseException) -> str:
    """A failure as text: a first line that is never empty, then the traceback.

    ``MemoryError()`` and many others carry no message; the first line then says what happened,
    since it is what the log, the progress bar and ``archspace trials`` show.
    """
    try:
        message = str(exc).strip()
    except Exception as inner:  # the exception's own __str__ raised: user code
        message = f"(its message could not be read: {type(inner).__name__} in __str__)"
    if not message:
        message = ("out of memory (raised without a message); the worker is recycled"
                   if isinstance(exc, MemoryError) else "raised without a message")
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        text = "".join(traceback.format_tb(exc.__traceback__))
    return f"{type(exc).__name__}: {message}\n\n{text}"


__all__ = ["Event", "Finished", "Reported", "Started", "describe", "pruned", "run_trial", "trial_output_dir"]
