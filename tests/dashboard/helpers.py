"""A small real experiment for the dashboard tests: a 60-sample space, a fast evaluator with curves.

Module-level so a driver in a subprocess (the live test) imports the same space and evaluator
(by this module's name: the stored space name must match).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

import archspace as asp
from archspace.evaluate import FunctionalEvaluator, TrialContext
from archspace.experiment import Experiment
from archspace.strategy import Random


class SmallSpace(asp.ModelSpace):
    """x in 0..9, width in {2, 4, 8}, act in {relu, tanh}: 60 samples, built in microseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.x = asp.choice("x", list(range(10)))
        self.act = asp.choice("act", ["relu", "tanh"])
        self.fc = asp.nn.Linear(4, asp.choice("width", [2, 4, 8]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.fc(inputs)


def score(model: nn.Module, ctx: TrialContext) -> float:
    """A metric from the sample, with three intermediate reports (a real model was built)."""
    assert isinstance(model.fc, nn.Linear)
    final = ctx.sample["x"] + model.fc.out_features / 10 + (0.05 if ctx.sample["act"] == "tanh" else 0.0)
    for step in (1, 2, 3):
        ctx.report(final * step / 3, step=step)
    return float(final)


def experiment(directory: Path, max_trials: int, *, seed: int = 0) -> Experiment:
    """The dashboard tests' experiment (inline executor, random search)."""
    return Experiment(SmallSpace(), FunctionalEvaluator(score), Random(), max_trials=max_trials,
                      executor="inline", directory=directory, progress=False, seed=seed)


#: What the live test's driver process runs: resume DIR up to N trials.
DRIVER = "import sys; from pathlib import Path; from tests.dashboard.helpers import experiment; " \
         "experiment(Path(sys.argv[1]), int(sys.argv[2])).resume()"
