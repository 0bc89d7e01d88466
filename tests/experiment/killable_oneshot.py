"""A one-shot experiment file for the crash tests: run by `archspace run` in a subprocess, then killed.

Everything that decides the result is fixed here (data, the space's initial weights, the seed, one
torch thread), so a run killed and resumed can be compared with an uninterrupted one.
"""

from __future__ import annotations

import os

import torch

from archspace.evaluate import Classification
from archspace.experiment import Experiment
from archspace.oneshot import DARTS
from archspace.testing import CellNet

_generator = torch.Generator().manual_seed(1)
_x = torch.randn(192, 1, 8, 8, generator=_generator)
_y = torch.randint(0, 10, (192,), generator=_generator)
torch.manual_seed(0)  # the space's initial weights
experiment = Experiment(
    CellNet(channels=4), Classification((_x[:96], _y[:96]), (_x[96:], _y[96:]), batch_size=8),
    DARTS(epochs=int(os.environ.get("ARCHSPACE_TEST_EPOCHS", "5")), seed=3, progress=False),
    directory=os.environ.get("ARCHSPACE_TEST_DIR", "runs/killable-oneshot"), threads=1, progress=False,
)
