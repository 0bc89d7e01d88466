"""The scheduler protocol: judge intermediate results, stop poor trials early.

A scheduler sits between the strategy and the executor. The experiment sets it up with its
direction, then calls :meth:`Scheduler.on_report` (in the driver) with every intermediate result
a trial reports (``ctx.report(value, step)``) and stops the trial when it answers True; it calls
:meth:`Scheduler.on_finish` when a trial ends. A scheduler never runs, sleeps or stores anything,
as a strategy does not.

Resume is exact by replay: a scheduler's state is a function of the reports and ends it has seen,
and the store keeps every finished trial's curve, so :meth:`Scheduler.replay` rebuilds it from the
recorded trials (the interrupted ones are run again from their start and report again). The
schedulers here keep order-free state (values per rung, curves of completed trials), so the rebuilt
state equals the live one whatever order the trials finished in; :meth:`state_dict` /
:meth:`load_state_dict` give the same state as JSON data for callers who drive a scheduler by hand.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

from archspace.errors import ArchspaceError
from archspace.storage.base import TrialRecord, TrialStatus

DIRECTIONS = ("maximize", "minimize")


class SchedulerError(ArchspaceError, ValueError):
    """A scheduler setting has the wrong type or value, or the scheduler was used out of order."""


def check_number(owner: str, name: str, value: Any, *, minimum: float, strict: bool = False,
                 integer: bool = False) -> float:
    """``value`` as a number ``>= minimum`` (``> minimum`` when ``strict``), else SchedulerError."""
    kind = "an int" if integer else "a number"
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and integer:
        ok = isinstance(value, int)
    if ok:
        ok = float(value) > minimum if strict else float(value) >= minimum
    if not ok:
        raise SchedulerError(f"{owner}: {name} must be {kind} {bound}, got {value!r} ({type(value).__name__})")
    return float(value)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` with linear interpolation (numpy's default method)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return quantile(values, 0.5)


class Scheduler(ABC):
    """Base class of multi-fidelity schedulers (see the module docstring).

    Subclasses keep their state in terms of *scores* (:meth:`score`: larger is better), so the
    direction is handled once, here.
    """

    #: Registry name (for configs: ``scheduler: {name: asha, ...}``).
    name: str = ""

    def __init__(self) -> None:
        self.direction = "maximize"
        self._reset()

    # Lifecycle ---------------------------------------------------------------------------------
    def setup(self, direction: str = "maximize") -> None:
        """Start a run whose metric goes in ``direction`` (clears any previous run state)."""
        if direction not in DIRECTIONS:
            raise SchedulerError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
        self.direction = direction
        self._reset()

    def score(self, value: float) -> float:
        """``value`` turned so that larger is better."""
        return float(value) if self.direction == "maximize" else -float(value)

    @abstractmethod
    def on_report(self, trial_id: int, step: int, value: float) -> bool:
        """Take trial ``trial_id``'s result ``value`` after ``step`` units of resource; True: stop it."""

    def on_finish(self, trial_id: int, status: TrialStatus) -> None:
        """Trial ``trial_id`` ended with ``status`` (default: nothing to do)."""

    def replay(self, trials: Iterable[TrialRecord]) -> None:
        """Rebuild the state of a run from its recorded trials (after :meth:`setup`).

        Every finished trial's curve is reported again, then its end; verdicts are ignored (they
        are already recorded). Unfinished trials are left out: they run again from their start.
        """
        for trial in sorted(trials, key=lambda t: t.id):
            if not trial.finished:
                continue
            for step, value in trial.intermediates:
                self.on_report(trial.id, step, value)
            self.on_finish(trial.id, trial.status)

    # State and identity ------------------------------------------------------------------------
    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The run state as JSON data."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue a run from :meth:`state_dict` (after :meth:`setup` with the same direction)."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The settings, with ``name``: an experiment refuses to resume under other settings."""

    def _reset(self) -> None:
        """Clear the run state (subclasses)."""

    def __repr__(self) -> str:
        settings = {k: v for k, v in self.config().items() if k != "name"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


__all__ = ["Scheduler", "SchedulerError", "check_number", "median", "quantile"]
