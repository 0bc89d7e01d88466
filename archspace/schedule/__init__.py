"""Multi-fidelity schedulers: stop poor trials early from the results they report.

``Experiment(..., scheduler=ASHA(max_resource=27))`` or, in a config, ``scheduler: {name: asha,
max_resource: 27}``. Evaluators report with ``ctx.report(value, step)`` (the built-in trainers do,
once per epoch); a stopped trial is recorded ``pruned`` with its curve, and the strategy is told its
last value marked partial (``Strategy.tell(sample, value, partial=True)``).
"""

from __future__ import annotations

from typing import Any

from archspace.evaluate.base import TrialPruned
from archspace.registry import Registry
from archspace.schedule.asha import ASHA
from archspace.schedule.base import Scheduler, SchedulerError
from archspace.schedule.hyperband import Hyperband
from archspace.schedule.median import MedianStopping

SCHEDULERS: Registry[Scheduler] = Registry("scheduler", entries={
    "asha": ASHA, "hyperband": Hyperband, "median": MedianStopping,
})


def create_scheduler(name: str, /, **kwargs: Any) -> Scheduler:
    """Build a registered scheduler by name: ``create_scheduler("asha", max_resource=27)``.

    Raises:
        UnknownNameError: no scheduler has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the scheduler does not take.
    """
    return SCHEDULERS.create(name, **kwargs)


__all__ = ["ASHA", "SCHEDULERS", "Hyperband", "MedianStopping", "Scheduler", "SchedulerError", "TrialPruned",
           "create_scheduler"]
