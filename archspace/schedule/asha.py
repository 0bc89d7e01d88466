"""ASHA: asynchronous successive halving — Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt,
Recht & Talwalkar, "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020.

Rungs lie at ``min_resource * eta**k`` (k = 0, 1, ...) below ``max_resource``, in the units of the
evaluator's report steps (epochs or steps). When a trial first reports a step at or past a rung,
its value is recorded at that rung and the trial goes on only if it is in the top ``1/eta`` of the
values recorded there so far: at least as good as their ``1 - 1/eta`` quantile (linear
interpolation), itself included. A trial past the last rung runs to its end.

Deviation from the paper: the paper's ASHA never stops a trial at a rung; it pauses it and may
promote it later, once enough results arrive. Here the trial's fate is decided when it reaches
the rung and never revisited (no trial is paused or restarted), the "stop if below the cutoff"
form used by Ray Tune's ``AsyncHyperBandScheduler`` and Optuna's ``SuccessiveHalvingPruner``. The
first arrivals at a rung are therefore judged against few results, and leniently: the first one
always continues, the second only if it beats the first. A report that reaches several rungs at
once (steps that skip a rung) is judged at each of them with its value, lowest rung first.

Example:
    >>> asha = ASHA(min_resource=1, max_resource=9, reduction_factor=3)
    >>> asha.setup("maximize")
    >>> asha.rungs
    [1.0, 3.0]
    >>> [asha.on_report(t, 1, v) for t, v in enumerate([0.5, 0.9, 0.1])]
    [False, False, True]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspace.schedule.base import Scheduler, SchedulerError, check_number, quantile


def rung_milestones(min_resource: float, max_resource: float, eta: float) -> list[float]:
    """``min_resource * eta**k`` for every k with a value below ``max_resource``."""
    rungs = []
    milestone = float(min_resource)
    while milestone < max_resource:
        rungs.append(milestone)
        milestone *= eta
    return rungs


def check_resources(owner: str, min_resource: Any, max_resource: Any, reduction_factor: Any) -> None:
    """Refuse resources and reduction factors that leave no rung to judge at, naming the setting."""
    check_number(owner, "min_resource", min_resource, minimum=0, strict=True)
    check_number(owner, "max_resource", max_resource, minimum=0, strict=True)
    check_number(owner, "reduction_factor", reduction_factor, minimum=1, strict=True)
    if not min_resource < max_resource:
        raise SchedulerError(f"{owner}: min_resource ({min_resource!r}) must be below max_resource "
                             f"({max_resource!r}); with no rung below full training no trial is ever stopped")


class ASHA(Scheduler):
    """Asynchronous successive halving (see the module docstring).

    Args:
        min_resource: the first rung, in report steps (epochs or steps): no trial stops before it.
        max_resource: full training, in the same units (rungs lie below it); set it to the number
            of steps the evaluator runs.
        reduction_factor: ``eta``; about one trial in ``eta`` goes on at each rung.
    """

    name = "asha"

    def __init__(self, *, max_resource: float, min_resource: float = 1, reduction_factor: float = 3) -> None:
        check_resources("ASHA", min_resource, max_resource, reduction_factor)
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.reduction_factor = reduction_factor
        super().__init__()

    @property
    def rungs(self) -> list[float]:
        """The rung milestones, lowest first."""
        return rung_milestones(self.min_resource, self.max_resource, self.reduction_factor)

    def _reset(self) -> None:
        self._milestones = self.rungs
        self._recorded: list[dict[int, float]] = [{} for _ in self._milestones]  # rung -> trial -> score

    def on_report(self, trial_id: int, step: int, value: float) -> bool:
        score = self.score(value)
        for milestone, recorded in zip(self._milestones, self._recorded):
            if step < milestone:
                break
            if trial_id in recorded:
                continue
            recorded[trial_id] = score
            if not self._promoted(score, recorded):
                return True
        return False

    def _promoted(self, score: float, recorded: Mapping[int, float]) -> bool:
        """Whether ``score`` is in the top ``1/eta`` of a rung's values (it is one of them)."""
        return score >= quantile(list(recorded.values()), 1 - 1 / self.reduction_factor)

    def recorded(self) -> list[dict[int, float]]:
        """Each rung's recorded results, ``trial id -> value`` in the metric's own direction."""
        sign = 1.0 if self.direction == "maximize" else -1.0
        return [{t: sign * s for t, s in rung.items()} for rung in self._recorded]

    def state_dict(self) -> dict[str, Any]:
        return {"rungs": [[[t, s] for t, s in rung.items()] for rung in self._recorded]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        rungs = state["rungs"]
        if len(rungs) != len(self._milestones):
            raise SchedulerError(f"ASHA state has {len(rungs)} rungs, these settings make {len(self._milestones)}")
        self._recorded = [{int(t): float(s) for t, s in rung} for rung in rungs]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "min_resource": self.min_resource, "max_resource": self.max_resource,
                "reduction_factor": self.reduction_factor}


__all__ = ["ASHA", "check_resources", "rung_milestones"]
