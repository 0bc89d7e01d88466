"""An experiment file for the Lightning tests: a two-epoch LightningModule on digits, ASHA, one worker
(run by `archspace run` in a subprocess, then killed, then resumed)."""

from __future__ import annotations

import os

from archspace.evaluate.lightning import Lightning
from archspace.experiment import Experiment
from archspace.schedule import ASHA
from archspace.strategy import GridSearch
from tests.evaluate.lightning_helpers import DigitsModule, DigitsSpace, loaders

train, val = loaders()
experiment = Experiment(
    DigitsSpace(),
    Lightning(DigitsModule, {"max_epochs": 2, "accelerator": "cpu", "logger": False}, train_dataloaders=train,
              val_dataloaders=val, metric="val_acc", mode="max"),
    GridSearch(), max_trials=5, concurrency=1, scheduler=ASHA(max_resource=2, min_resource=1, reduction_factor=2),
    directory=os.environ.get("ARCHSPACE_TEST_DIR", "runs/lightning"), seed=0, progress=False,
)
