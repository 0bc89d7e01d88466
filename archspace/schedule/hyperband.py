"""Hyperband on top of ASHA — Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, "Hyperband: A Novel
Bandit-Based Approach to Hyperparameter Optimization", JMLR 2018; asynchronous form as in Li et
al., MLSys 2020 (section 3.3).

Successive halving must guess how early a curve tells good from poor; Hyperband hedges by
running several brackets, each an :class:`~archspace.schedule.ASHA` whose first rung lies one
factor ``eta`` higher than the previous bracket's: bracket 0 judges from ``min_resource``, bracket
``b`` from ``min_resource * eta**b``, and with the default number of brackets the last one stops
nothing (plain full training). Each bracket keeps its own rungs: trials are only compared with
trials of the same bracket.

A trial's bracket follows from its id alone, in proportion to Hyperband's bracket sizes
``n_b = ceil((s + 1) / (s - b + 1) * eta**(s - b))`` (``s`` = the number of rungs): the id's
golden-ratio point ``frac((id + 1) * 0.618...)`` falls in bracket ``b``'s share of ``[0, 1)``.
Deviation: the synchronous algorithm runs the brackets one after the other with those sizes;
here every bracket fills at once, in proportion — deterministic without a random generator,
evenly spread over any run of consecutive ids, and unchanged on resume.

Example:
    >>> hb = Hyperband(min_resource=1, max_resource=9, reduction_factor=3)
    >>> hb.setup("maximize")
    >>> [hb.bracket_of(t) for t in range(8)]
    [1, 0, 2, 0, 0, 1, 0, 2]
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

from archspace.schedule.asha import ASHA, check_resources, rung_milestones
from archspace.schedule.base import Scheduler, SchedulerError
from archspace.storage.base import TrialStatus

GOLDEN = (math.sqrt(5) - 1) / 2


class Hyperband(Scheduler):
    """Hyperband brackets of asynchronous successive halving (see the module docstring).

    Args:
        max_resource: full training, in report steps (epochs or steps).
        min_resource: the first rung of the most aggressive bracket.
        reduction_factor: ``eta`` of every bracket.
        brackets: how many brackets, from the most aggressive (default: all, up to the one that
            stops nothing: one more than the number of rungs).
    """

    name = "hyperband"

    def __init__(self, *, max_resource: float, min_resource: float = 1, reduction_factor: float = 3,
                 brackets: int | None = None) -> None:
        check_resources("Hyperband", min_resource, max_resource, reduction_factor)
        most = len(rung_milestones(min_resource, max_resource, reduction_factor)) + 1
        if brackets is not None and (isinstance(brackets, bool) or not isinstance(brackets, int)
                                     or not 1 <= brackets <= most):
            raise SchedulerError(f"Hyperband: brackets must be an int from 1 to {most} (the rungs from "
                                 f"min_resource={min_resource!r} to max_resource={max_resource!r} with "
                                 f"reduction_factor={reduction_factor!r}, plus full training) or None, got {brackets!r}")
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.reduction_factor = reduction_factor
        self.brackets = most if brackets is None else brackets
        super().__init__()

    def sizes(self) -> list[int]:
        """Hyperband's number of trials per bracket, most aggressive first (the assignment weights)."""
        s = len(rung_milestones(self.min_resource, self.max_resource, self.reduction_factor))
        eta = self.reduction_factor
        return [math.ceil((s + 1) / (s - b + 1) * eta ** (s - b)) for b in range(self.brackets)]

    def _reset(self) -> None:
        sizes = self.sizes()
        total = sum(sizes)
        self._bounds = [sum(sizes[: b + 1]) / total for b in range(len(sizes) - 1)]
        self._asha: list[ASHA | None] = []
        for b in range(self.brackets):
            start = self.min_resource * self.reduction_factor ** b
            if start < self.max_resource:
                asha = ASHA(min_resource=start, max_resource=self.max_resource,
                            reduction_factor=self.reduction_factor)
                asha.setup(self.direction)
                self._asha.append(asha)
            else:
                self._asha.append(None)  # full training: never stops a trial

    def bracket_of(self, trial_id: int) -> int:
        """The bracket of trial ``trial_id`` (0: the most aggressive)."""
        point = ((trial_id + 1) * GOLDEN) % 1.0
        return bisect.bisect_right(self._bounds, point)

    def bracket_rungs(self, bracket: int) -> list[float]:
        """The rung milestones of ``bracket`` (empty for the bracket that stops nothing)."""
        asha = self._asha[bracket]
        return [] if asha is None else asha.rungs

    def on_report(self, trial_id: int, step: int, value: float) -> bool:
        asha = self._asha[self.bracket_of(trial_id)]
        return False if asha is None else asha.on_report(trial_id, step, value)

    def on_finish(self, trial_id: int, status: TrialStatus) -> None:
        asha = self._asha[self.bracket_of(trial_id)]
        if asha is not None:
            asha.on_finish(trial_id, status)

    def state_dict(self) -> dict[str, Any]:
        return {"brackets": [None if a is None else a.state_dict() for a in self._asha]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        brackets = state["brackets"]
        if len(brackets) != len(self._asha):
            raise SchedulerError(f"Hyperband state has {len(brackets)} brackets, these settings make {len(self._asha)}")
        for asha, bracket_state in zip(self._asha, brackets):
            if asha is not None:
                asha.load_state_dict(bracket_state)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "min_resource": self.min_resource, "max_resource": self.max_resource,
                "reduction_factor": self.reduction_factor, "brackets": self.brackets}


__all__ = ["Hyperband"]
