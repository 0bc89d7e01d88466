"""Median stopping — Golovin, Solnik, Moitra, Kochanski, Karro & Sculley, "Google Vizier: A Service
for Black-Box Optimization", KDD 2017 (section 3.2.2).

A trial is stopped at step ``s`` if its best value so far is strictly worse than the median of
the running averages, up to step ``s``, of the completed trials' curves (a completed trial's
running average at ``s`` is the mean of the values it reported at steps ``<= s``). Vizier's rule,
taken as is: comparing the trial's *best* value with the others' *averages* leans towards
letting a trial go on (a noisy curve is stopped only when even its best is below typical), since
a wrongly stopped trial is lost for good while a wrongly continued one only costs time.

"Completed" means succeeded: trials that were pruned, failed or timed out do not set the bar. No
trial is stopped before ``grace_period`` steps, nor before ``min_trials`` completed trials have a
value at or before the step in question.

Example:
    >>> median = MedianStopping(grace_period=1, min_trials=1)
    >>> median.setup("maximize")
    >>> median.on_report(0, 1, 0.5), median.on_report(0, 2, 0.7)
    (False, False)
    >>> median.on_finish(0, TrialStatus.SUCCEEDED)
    >>> median.on_report(1, 1, 0.4), median.on_report(2, 1, 0.6)
    (True, False)
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from archspace.schedule.base import Scheduler, SchedulerError, check_number, median
from archspace.storage.base import TrialStatus


class _Curve:
    """A completed trial's curve, with prefix sums for its running average at any step."""

    def __init__(self, points: list[tuple[int, float]]) -> None:
        self.points = points = sorted(points)
        self.steps = [s for s, _ in points]
        self.sums: list[float] = []
        total = 0.0
        for _, score in points:
            total += score
            self.sums.append(total)

    def running_average(self, step: int) -> float | None:
        count = bisect.bisect_right(self.steps, step)
        return None if count == 0 else self.sums[count - 1] / count


class MedianStopping(Scheduler):
    """Stop a trial whose best value is below the median of completed trials (see the module docstring).

    Args:
        grace_period: no trial is stopped at a step below this (report steps: epochs or steps).
        min_trials: completed trials needed (with a value by the step) before any trial is stopped.
    """

    name = "median"

    def __init__(self, *, grace_period: int = 1, min_trials: int = 3) -> None:
        check_number("MedianStopping", "grace_period", grace_period, minimum=0, integer=True)
        check_number("MedianStopping", "min_trials", min_trials, minimum=1, integer=True)
        self.grace_period = grace_period
        self.min_trials = min_trials
        super().__init__()

    def _reset(self) -> None:
        self._running: dict[int, list[tuple[int, float]]] = {}  # trial -> (step, score) reported so far
        self._completed: dict[int, _Curve] = {}

    def on_report(self, trial_id: int, step: int, value: float) -> bool:
        points = self._running.setdefault(trial_id, [])
        points.append((step, self.score(value)))
        if step < self.grace_period:
            return False
        averages = [a for curve in self._completed.values() if (a := curve.running_average(step)) is not None]
        if len(averages) < self.min_trials:
            return False
        best = max(score for s, score in points if s <= step)
        return best < median(averages)

    def on_finish(self, trial_id: int, status: TrialStatus) -> None:
        points = self._running.pop(trial_id, [])
        if status is TrialStatus.SUCCEEDED and points:
            self._completed[trial_id] = _Curve(points)

    def state_dict(self) -> dict[str, Any]:
        completed = {str(t): [[s, v] for s, v in c.points] for t, c in self._completed.items()}
        running = {str(t): [[s, v] for s, v in points] for t, points in self._running.items()}
        return {"completed": completed, "running": running}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            self._completed = {int(t): _Curve([(int(s), float(v)) for s, v in points])
                               for t, points in state["completed"].items()}
            self._running = {int(t): [(int(s), float(v)) for s, v in points] for t, points in state["running"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise SchedulerError(f"not a MedianStopping state ({exc!r})") from None

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "grace_period": self.grace_period, "min_trials": self.min_trials}


__all__ = ["MedianStopping"]
