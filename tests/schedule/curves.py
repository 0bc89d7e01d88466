"""A synthetic learning-curve family for scheduler tests: module level, so spawned workers import it.

Each sample has a quality ``q`` in (0, 1], distinct per sample; its curve after epoch ``e`` is
``q * (1 - 0.5 ** e)``: every curve rises, and the ranking of the samples is the same at every
epoch (the final rank equals the rank at epoch 1), so a scheduler that stops trials from their
first epochs can keep the best one. No training and no sleep unless ``$ARCHSPACE_TEST_EPOCH_SLEEP``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from torch import nn

import archspace as asp
from archspace.evaluate import FunctionalEvaluator, TrialContext
from archspace.experiment import Experiment
from archspace.schedule import ASHA
from archspace.strategy import RegularizedEvolution

EPOCHS = 27


class CurveSpace(asp.ModelSpace):
    """Two decisions (8 x 8 = 64 samples) feeding a linear layer: freezes in well under a millisecond."""

    def __init__(self) -> None:
        super().__init__()
        self.a = asp.choice("a", list(range(8)))
        self.b = asp.choice("b", list(range(8)))
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.fc(inputs)


def quality(sample: dict[str, Any]) -> float:
    """A distinct quality per sample, scrambled so that grid order is not quality order."""
    index = sample["a"] * 8 + sample["b"]
    return ((index * 37) % 64 + 1) / 64


def value(sample: dict[str, Any], epoch: int) -> float:
    """The curve's value after ``epoch`` epochs."""
    return quality(sample) * (1 - 0.5 ** epoch)


def curve(model: nn.Module, ctx: TrialContext) -> float:
    """Report the sample's curve for ``$ARCHSPACE_TEST_EPOCHS`` (default 27) epochs; return the last value."""
    epochs = int(os.environ.get("ARCHSPACE_TEST_EPOCHS", EPOCHS))
    pause = float(os.environ.get("ARCHSPACE_TEST_EPOCH_SLEEP", "0"))
    for epoch in range(1, epochs + 1):
        if pause:
            time.sleep(pause)
        ctx.report(value(ctx.sample, epoch), epoch)
    return value(ctx.sample, epochs)


def curve_minimize(model: nn.Module, ctx: TrialContext) -> float:
    """The same family as a loss (``1 - curve``): lower is better."""
    epochs = int(os.environ.get("ARCHSPACE_TEST_EPOCHS", EPOCHS))
    for epoch in range(1, epochs + 1):
        ctx.report(1 - value(ctx.sample, epoch), epoch)
    return 1 - value(ctx.sample, epochs)


def silent(model: nn.Module, ctx: TrialContext) -> float:
    """Never reports: a scheduler cannot stop it."""
    return quality(ctx.sample)


def careful(model: nn.Module, ctx: TrialContext) -> float:
    """Stops cleanly itself: reports without raising, checks ``should_stop()``, returns early."""
    for epoch in range(1, EPOCHS + 1):
        ctx.report(value(ctx.sample, epoch), epoch, raise_pruned=False)
        if ctx.should_stop():
            return -1.0  # ignored: a stopped trial's metric is its last reported value
    return value(ctx.sample, EPOCHS)


def swallowing(model: nn.Module, ctx: TrialContext) -> float:
    """Wraps each epoch in ``except Exception`` as training loops often do: must not swallow the stop."""
    for epoch in range(1, EPOCHS + 1):
        try:
            ctx.report(value(ctx.sample, epoch), epoch)
        except Exception:  # noqa: BLE001 - the point of this evaluator
            continue
    return value(ctx.sample, EPOCHS)


def build(directory: str, *, epoch_sleep: float = 0.0) -> Experiment:
    """The experiment of the resume test: evolution (it learns from partial values) with ASHA, inline."""
    return Experiment(
        CurveSpace(), FunctionalEvaluator(curve), RegularizedEvolution(population_size=8, sample_size=3),
        scheduler=ASHA(min_resource=1, max_resource=EPOCHS, reduction_factor=3), max_trials=40,
        executor="inline", directory=directory, seed=3, progress=False,
    )

