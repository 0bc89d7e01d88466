"""The evaluator protocol: train and evaluate one frozen model, report along the way.

An evaluator is called in a worker process with the frozen model and a :class:`TrialContext`;
it returns the final metric, a float or a dict holding the primary metric under ``"default"`` (or
the evaluator's ``primary`` key). It must be picklable: the process executor sends it to workers.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

from torch import nn

from archspace.errors import ArchspaceError
from archspace.registry import UnknownArgumentError, check_arguments
from archspace.storage import check_step

logger = logging.getLogger("archspace.evaluate")

class MetricError(ArchspaceError, ValueError):
    """An evaluator returned or reported something that is not a finite number."""


def check_metric(value: Any, what: str = "metric") -> float:
    """``value`` as a float, or :class:`MetricError` if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        try:
            import torch

            if isinstance(value, torch.Tensor) and value.numel() == 1:
                return check_metric(value.item(), what)
        except ImportError:  # pragma: no cover
            pass
        raise MetricError(f"the {what} must be a finite number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise MetricError(f"the {what} must be a finite number, got {number!r}")
    return number


def _plain(value: Any, key: str) -> Any:
    """``value`` as plain JSON data (numpy and torch scalars/arrays converted), or MetricError."""
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars/arrays, torch tensors
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, key) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise MetricError(f"the evaluator's result {key!r} is {value!r} ({type(value).__name__}), which is not JSON data")


def split_result(result: Any, primary: str = "default") -> tuple[float, dict[str, Any]]:
    """The primary metric and the full dict of a result (a number, or a dict with ``primary``).

    Values beside the primary metric are converted to plain JSON data (numpy and torch values
    included; non-finite floats become null), so that storing them can never fail.
    """
    if isinstance(result, Mapping):
        if primary not in result:
            raise MetricError(
                f"the evaluator returned a dict without the primary key {primary!r}; keys: {sorted(result)}"
            )
        value = check_metric(result[primary])
        metrics = {str(k): _plain(v, str(k)) for k, v in result.items()}
        metrics[primary] = value
        return value, metrics
    value = check_metric(result)
    return value, {primary: value}


class TrialPruned(BaseException):
    """Raised by :meth:`TrialContext.report` when the experiment's scheduler stops the trial early.

    A ``BaseException`` (like ``KeyboardInterrupt``), not an ``Exception``: an evaluator's
    ``except Exception`` around its training step must not swallow the stop and train on. An
    evaluator that wants to clean up (save a checkpoint, free a device) may catch it explicitly,
    then re-raise it or return; either way the trial is recorded as ``pruned`` with its last
    reported value as its (partial) metric.
    """


@dataclass
class TrialContext:
    """What an evaluator knows about its trial, and its channel for intermediate results.

    ``output_dir`` is the trial's own folder for checkpoints and exports (``<experiment
    directory>/trials/<trial id>/``), created on first use so that trials which write nothing leave
    no empty folders; None when the experiment lives in memory. An interrupted trial runs again
    under its own id, so it finds what its first attempt left there (e.g. a checkpoint to resume).

    Early stopping: with a scheduler (``Experiment(scheduler=ASHA(...))``) every :meth:`report`
    gets a verdict from the driver. On "stop", :meth:`report` raises :class:`TrialPruned` (or,
    with ``raise_pruned=False``, returns True) and :meth:`should_stop` turns True, so a long
    evaluator can also stop cleanly at a point of its choosing. An evaluator that never reports
    is never stopped early.
    """

    trial_id: int
    sample: dict[str, Any]
    #: ``report(step, value) -> stop?``: the executor's channel to the driver (None/False: go on).
    _report: Callable[[int, float], bool | None] = field(repr=False)
    _steps: int = 0
    _output_dir: Path | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _last: float | None = field(default=None, repr=False)

    @property
    def output_dir(self) -> Path | None:
        """The trial's output folder (created now if missing), or None for in-memory experiments."""
        if self._output_dir is not None:
            self._output_dir.mkdir(parents=True, exist_ok=True)
        return self._output_dir

    @property
    def last_reported(self) -> float | None:
        """The last value passed to :meth:`report` (None before the first report)."""
        return self._last

    def report(self, value: Any, step: int | None = None, *, raise_pruned: bool = True) -> bool:
        """Record an intermediate result (e.g. validation accuracy after an epoch).

        Args:
            value: a finite number; with a scheduler, it is what the trial is judged on (in the
                experiment's direction).
            step: the resource spent so far (epoch or step count); default: one more than the last.
            raise_pruned: raise :class:`TrialPruned` when the scheduler stops the trial (default);
                False returns True instead, for evaluators that stop cleanly themselves.

        Returns:
            False, or True when the trial should stop (only with ``raise_pruned=False``).

        Raises:
            TrialPruned: the scheduler stopped the trial (also on a report after a stop).
        """
        number = check_metric(value, "reported value")
        if step is not None:
            try:
                check_step(step)
            except ValueError as exc:
                raise MetricError(f"trial {self.trial_id}: {exc}") from None
        if self._stopped:  # reports after the stop verdict are not sent: the driver has judged
            if raise_pruned:
                raise TrialPruned(f"trial {self.trial_id} was stopped early by the scheduler")
            return True
        self._steps = self._steps + 1 if step is None else int(step)
        self._last = number
        if self._report(self._steps, number):
            self._stopped = True
            if raise_pruned:
                raise TrialPruned(f"trial {self.trial_id} was stopped early by the scheduler at step {self._steps}")
        return self._stopped

    def should_stop(self) -> bool:
        """True once the scheduler has stopped this trial: finish up and return (recorded as pruned)."""
        return self._stopped


class Evaluator(ABC):
    """Trains and evaluates a model. Subclasses implement :meth:`evaluate`."""

    #: The direction the primary metric should go, unless the experiment says otherwise.
    direction: str = "maximize"
    #: The key of the primary metric when :meth:`evaluate` returns a dict.
    primary: str = "default"
    #: False for evaluators that answer from the sample alone (tabular benchmarks): the trial
    #: then skips building the model and passes ``None``.
    needs_model: bool = True

    @abstractmethod
    def evaluate(self, model: nn.Module, ctx: TrialContext) -> Any:
        """Train and evaluate ``model``; return the metric (float or dict)."""

    def fit(self, model: nn.Module, *, sample: Mapping[str, Any] | None = None,
            output_dir: str | os.PathLike[str] | None = None, reset_weights: bool = True) -> Any:
        """Train and score one model outside an experiment: the retrain step after a search.

        The same training an experiment's trial gets, without building a context by hand:
        intermediate results go to the log (logger ``archspace.evaluate``), and with
        ``output_dir`` the trained weights (``model.pt``, a state dict) and the result
        (``result.json``) are written there, next to whatever the evaluator itself saves.

        Args:
            model: any ``nn.Module`` (e.g. built under ``fixed_arch(sample)``); trained in place.
            sample: the architecture it was built from, for evaluators that read ``ctx.sample``.
            output_dir: a folder for checkpoints and exports (``ctx.output_dir``), or None.
            reset_weights: for an evaluator with an integer ``seed`` (``Classification``, ...)
                and a model built from an archspace ModelSpace (``fixed_arch``, ``freeze``), first
                give the model the weights its constructor draws under that seed
                (:func:`archspace.nn.init.seed_weights`), so that retraining with a seed repeats
                whatever state the global generator was in when the model was built. False keeps
                the weights it holds (fine-tuning, e.g. a supernet's inherited weights). Other
                modules keep their weights either way.

        Returns:
            The evaluator's result, checked: a finite float, or a dict holding the primary metric.

        Raises:
            MetricError: the evaluator returned something that is not a finite metric.

        Example:
            >>> from torch import nn
            >>> FunctionalEvaluator(lambda model, ctx: 0.5).fit(nn.Linear(2, 2))
            0.5
        """
        history: list[tuple[int, float]] = []

        def report(step: int, value: float) -> None:
            history.append((step, value))
            logger.info("%s step %d: %.4f", type(self).__name__, step, value)

        seed = getattr(self, "seed", None)
        if reset_weights and isinstance(seed, int) and not isinstance(seed, bool):
            from archspace.nn.init import seed_weights

            seed_weights(model, seed)
        out = Path(output_dir) if output_dir is not None else None
        result = self.evaluate(model, TrialContext(0, dict(sample or {}), report, _output_dir=out))
        metric, metrics = split_result(result, self.primary)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            import torch

            torch.save(model.state_dict(), out / "model.pt")
            (out / "result.json").write_text(json.dumps({"metric": metric, "metrics": metrics,
                                                         "intermediates": history}, indent=2) + "\n")
        return metrics if isinstance(result, Mapping) else metric



class EvaluatorError(ArchspaceError, TypeError):
    """An evaluator is built from something that cannot evaluate a trial."""


def _check_signature(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse, when the experiment is built, a function that cannot be called as ``fn(model, ctx, **kwargs)``.

    Otherwise every trial would fail with the same TypeError, after the budget was spent.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # some builtins have no signature: let them try
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        check_arguments(fn, kwargs, f"the evaluator function {name}", skip=2)
    except UnknownArgumentError as exc:
        raise EvaluatorError(f"{exc}; FunctionalEvaluator passes its keyword arguments to fn(model, ctx, ...)") from None
    try:
        signature.bind(None, None, **kwargs)
    except TypeError as exc:
        call = "fn(model, ctx" + "".join(f", {key}=..." for key in kwargs) + ")"
        raise EvaluatorError(
            f"the evaluator function {name}{signature} cannot be called as {call} ({exc}); it must take the "
            "frozen model and the trial context"
            + (", and the keyword arguments given to FunctionalEvaluator" if kwargs else "")
        ) from None


class FunctionalEvaluator(Evaluator):
    """An evaluator from a function ``fn(model, ctx, **kwargs) -> metric``.

    Args:
        fn: a module-level function (so that worker processes can import it).
        direction: the metric's default direction.
        primary: the primary key when ``fn`` returns a dict.
        **kwargs: passed to ``fn`` on every call, as NNI's ``FunctionalEvaluator(fn, epochs=3)``
            does (NNI calls ``fn(model, **kwargs)``; here ``fn`` also gets the trial context, its
            channel for intermediate results). They travel with the evaluator to worker
            processes, so they must be picklable; ``direction`` and ``primary`` are the
            evaluator's own settings, never passed on.

    Example:
        >>> def score(model, ctx, epochs):
        ...     return float(epochs)
        >>> evaluator = FunctionalEvaluator(score, epochs=3)
        >>> evaluator.direction, evaluator.kwargs
        ('maximize', {'epochs': 3})
    """

    def __init__(self, fn: Callable[..., Any], *, direction: str = "maximize", primary: str = "default",
                 **kwargs: Any) -> None:
        if not callable(fn):
            raise EvaluatorError(f"FunctionalEvaluator needs a callable fn(model, ctx), got {fn!r}")
        _check_signature(fn, kwargs)
        if direction not in ("maximize", "minimize"):
            raise EvaluatorError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        self.fn = fn
        self.direction = direction
        self.primary = primary
        self.kwargs: dict[str, Any] = dict(kwargs)

    def evaluate(self, model: nn.Module, ctx: TrialContext) -> Any:
        return self.fn(model, ctx, **self.kwargs)

    def __repr__(self) -> str:
        arguments = "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        return f"FunctionalEvaluator({getattr(self.fn, '__qualname__', self.fn)!r}{arguments})"


__all__ = ["Evaluator", "EvaluatorError", "FunctionalEvaluator", "MetricError", "TrialContext", "TrialPruned",
           "check_metric", "split_result"]
