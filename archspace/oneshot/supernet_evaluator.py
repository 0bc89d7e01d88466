"""A trained supernet as an evaluator: any multi-trial strategy searches it inside the engine.

After a one-shot search has trained a supernet, choosing an architecture from it is a search of
its own: each candidate is scored by its subnet with the supernet's weights (inherited, not
trained again) after its batch-norm statistics are recomputed on training batches, as SPOS's
evolution does. :class:`SupernetEvaluator` makes that score an archspace evaluator, so Random,
RegularizedEvolution, TPE or any strategy to come can search a trained supernet in an
``Experiment``: every candidate is a trial the store, the command line and the dashboard show,
and the run resumes like any other.

Example:
    >>> import torch
    >>> from archspace.experiment import Experiment
    >>> from archspace.oneshot import SPOS
    >>> from archspace.strategy import Random
    >>> from archspace.testing import SharedNet
    >>> data = [(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))] * 2
    >>> trainer = SPOS(epochs=1, progress=False, evolution=False)
    >>> _ = trainer.fit(SharedNet(), data)
    >>> evaluator = SupernetEvaluator(trainer.supernet, data, data)
    >>> trials = Experiment(SharedNet(), evaluator, Random(), max_trials=3, executor="inline").run()
    >>> len(trials), all(t.metric is not None for t in trials)
    (3, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from archspace.evaluate.base import Evaluator, TrialContext
from archspace.oneshot._reward import LossFn, reward_metric
from archspace.oneshot.loop import Batch
from archspace.oneshot.spos_search import score_subnet
from archspace.oneshot.supernet import Supernet


class SupernetEvaluator(Evaluator):
    """Scores ``ctx.sample`` by its subnet of ``supernet`` (inherited weights, batch norm
    recalibrated on ``calibration``) on ``validation``: accuracy for class logits, else the
    negated loss (so ``direction`` is ``"maximize"`` either way).

    Args:
        supernet: a trained supernet (e.g. ``trainer.supernet`` after ``fit``).
        calibration: training batches the batch norms are recalibrated on (the paper: 200 of 128).
        validation: the batches each candidate is scored on.
        recalibrate: False scores with the supernet's own running statistics.
        loss_fn: the loss for outputs that are not class logits.
        device: where the subnets run.
    """

    direction = "maximize"
    needs_model = False  # the subnet comes from the supernet, not from space.freeze

    def __init__(self, supernet: Supernet, calibration: Sequence[Batch], validation: Sequence[Batch], *,
                 recalibrate: bool = True, loss_fn: LossFn = nn.functional.cross_entropy,
                 device: str | torch.device = "cpu") -> None:
        if not isinstance(supernet, Supernet):
            raise TypeError(f"SupernetEvaluator takes a Supernet (trainer.supernet), got {type(supernet).__name__}")
        self.supernet = supernet
        self.calibration = list(calibration)
        self.validation = list(validation)
        if not self.validation or (recalibrate and not self.calibration):
            raise ValueError("SupernetEvaluator needs validation batches, and calibration batches to recalibrate on")
        self.recalibrate = recalibrate
        self.loss_fn = loss_fn
        self.device = device

    def evaluate(self, model: nn.Module | None, ctx: TrialContext) -> Any:
        return score_subnet(self.supernet, ctx.sample, self.calibration, self.validation, recalibrate=self.recalibrate,
                            device=self.device, metric=reward_metric(self.loss_fn, self.device))


__all__ = ["SupernetEvaluator"]
