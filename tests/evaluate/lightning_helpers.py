"""A LightningModule and a model space on scikit-learn's digits, module level: workers import them by name."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import archspace as asp
from archspace.data import digits

pl = pytest.importorskip("pytorch_lightning")  # the lightning extra (the test extra installs it)


class DigitsSpace(asp.ModelSpace):
    """A one-hidden-layer MLP on 8x8 digits; the hidden width is the decision, widest first (grid order)."""

    def __init__(self) -> None:
        super().__init__()
        hidden = asp.choice("hidden", [64, 32, 16, 2, 1])
        self.net = nn.Sequential(nn.Flatten(), asp.nn.Linear(64, hidden), nn.ReLU(), asp.nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DigitsModule(pl.LightningModule):
    """Cross-entropy and Adam; logs train_loss, val_loss and val_acc."""

    def __init__(self, model: nn.Module, learning_rate: float = 0.02) -> None:
        super().__init__()
        self.model = model
        self.learning_rate = learning_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        out = self(x)
        self.log("val_loss", nn.functional.cross_entropy(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def setup(self, stage: str) -> None:
        torch.set_num_threads(1)  # a shared 2-core machine: two threads on a busy core run tiny steps far slower

    def on_train_epoch_end(self) -> None:
        time.sleep(float(os.environ.get("ARCHSPACE_TEST_EPOCH_SLEEP", "0")))  # time for a test to kill the driver

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)


def loaders() -> tuple[DataLoader, DataLoader]:
    """Digits' training and validation loaders (1,347 and 450 images)."""
    (x, y), (xv, yv) = digits()
    return (DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True),
            DataLoader(TensorDataset(xv, yv), batch_size=450))
