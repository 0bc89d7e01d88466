"""One trial, start to end, as a worker runs it: freeze, evaluate, check the metric, keep the weights.

A trial's folder and the files in it are named here only (:func:`trial_output_dir`,
:func:`trial_weights_file`); the experiment's ``keep_weights`` setting is checked here too
(:func:`check_keep_weights`), since it decides what a trial leaves in its folder.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from archspace.evaluate.base import Evaluator, TrialContext, TrialPruned, split_result
from archspace.nn.space import ModelSpace
from archspace.storage.base import TrialStatus

logger = logging.getLogger("archspace.experiment")


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

#: The trained weights a trial keeps in its folder: ``torch.save(model.state_dict())``, weights
#: only (``torch.load(..., weights_only=True)`` reads it; the evaluator's ``fit`` writes the same).
WEIGHTS_FILE = "model.pt"

#: Which trials keep their trained weights: None (none), an int k (the best k), or ``"all"``.
KeepWeights = int | Literal["all"] | None


def check_keep_weights(value: Any) -> KeepWeights:
    """``keep_weights`` as the run uses it: ``"best"`` is the best one (1); None, ``"all"`` and
    whole numbers >= 1 stay as they are.

    Raises:
        ValueError: anything else, naming what is allowed.
    """
    if value is None or value == "all":
        return value
    if value == "best":
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"keep_weights must be None (keep none), 'best', 'all' or a whole number k >= 1 "
                     f"(the best k trials), got {value!r}")


def trial_output_dir(directory: str | os.PathLike[str] | None, trial_id: int) -> Path | None:
    """The output folder of trial ``trial_id`` in experiment ``directory`` (None in memory).

    The one place that names it (``<directory>/trials/<id>/``): executors pass the experiment
    directory and the runner asks here.
    """
    return None if directory is None else Path(directory) / "trials" / str(trial_id)


def trial_weights_file(directory: str | os.PathLike[str] | None, trial_id: int) -> Path | None:
    """Where trial ``trial_id`` keeps its trained weights (None in memory)."""
    folder = trial_output_dir(directory, trial_id)
    return None if folder is None else folder / WEIGHTS_FILE


def save_weights(model: Any, path: Path) -> None:
    """Write ``model``'s state dict to ``path`` whole or not at all (a temporary file, then a rename),
    so a trial killed mid-write never leaves a truncated file that export would load."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(model.state_dict(), partial)
    os.replace(partial, path)


def drop_weights(directory: str | os.PathLike[str] | None, trial_ids: Iterable[int]) -> None:
    """Delete the kept weights of these trials (they fell out of the best k); missing files are fine."""
    for trial_id in trial_ids:
        path = trial_weights_file(directory, trial_id)
        if path is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # e.g. a read-only copy: the file stays, the run goes on
                logger.warning("trial %d: could not delete its weights %s: %s", trial_id, path, exc)


def run_trial(
    space: ModelSpace, evaluator: Evaluator, trial_id: int, sample: dict[str, Any],
    report: Callable[[int, float], bool | None], directory: str | os.PathLike[str] | None = None,
    keep_weights: bool = False,
) -> Finished:
    """Freeze ``sample``, evaluate it, and return the outcome; exceptions become a failed trial.

    ``directory`` is the experiment directory: the evaluator's ``ctx.output_dir`` lies inside it.
    With ``keep_weights`` a succeeded trial's trained model is saved there (:func:`trial_weights_file`)
    before the driver hears of it, so the driver can decide which trials keep theirs.
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
        weights = trial_weights_file(directory, trial_id)
        if keep_weights and model is not None and weights is not None:
            try:
                save_weights(model, weights)
            except OSError as exc:  # a full disk costs the weights, not the trial's result
                logger.warning("trial %d: its trained weights could not be kept in %s: %s", trial_id, weights, exc)
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


__all__ = ["WEIGHTS_FILE", "Event", "Finished", "KeepWeights", "Reported", "Started", "check_keep_weights", "describe",
           "drop_weights", "pruned", "run_trial", "save_weights", "trial_output_dir", "trial_weights_file"]
