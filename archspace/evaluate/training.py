"""Classification and Regression: plain PyTorch training loops as evaluators.

Each trains the frozen model for ``epochs`` on the training data and reports the validation metric
after every epoch (accuracy for classification, mean squared error for regression); the last
epoch's value is the trial's metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from archspace.errors import ArchspaceError
from archspace.evaluate.base import Evaluator, TrialContext

DataLike = Dataset | DataLoader | Sequence[torch.Tensor]
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def _loader(data: Any, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        data = TensorDataset(*data)
    if not isinstance(data, Dataset):
        raise ArchspaceError(
            f"training data must be a Dataset, a DataLoader or a tuple of tensors (inputs, targets); got {type(data).__name__}"
        )
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


class _SupervisedEvaluator(Evaluator):
    def __init__(self, train_data: DataLike, val_data: DataLike, *, epochs: int = 1, optimizer: str = "adam",
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, batch_size: int = 64,
                 device: str = "cpu", seed: int = 0) -> None:
        if optimizer.lower() not in OPTIMIZERS:
            raise ArchspaceError(f"unknown optimizer {optimizer!r}; known optimizers: {sorted(OPTIMIZERS)}")
        if not isinstance(epochs, int) or epochs < 1:
            raise ArchspaceError(f"epochs must be a positive int, got {epochs!r}")
        self.train_data = train_data
        self.val_data = val_data
        self.epochs = epochs
        self.optimizer = optimizer.lower()
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.device = device
        self.seed = seed

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _validate(self, model: nn.Module, loader: DataLoader) -> float:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, ctx: TrialContext) -> float:
        torch.manual_seed(self.seed)
        device = torch.device(self.device)
        model = model.to(device)
        train = _loader(self.train_data, self.batch_size, True, self.seed)
        val = _loader(self.val_data, self.batch_size * 4, False, self.seed)
        opt = OPTIMIZERS[self.optimizer](model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        metric = float("nan")
        for epoch in range(self.epochs):
            model.train()
            for inputs, targets in train:
                inputs, targets = inputs.to(device), targets.to(device)
                opt.zero_grad(set_to_none=True)
                loss = self._loss(model(inputs), targets)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                metric = self._validate(model, val)
            ctx.report(metric, step=epoch + 1)
        return metric


class Classification(_SupervisedEvaluator):
    """Cross-entropy training; the metric is validation accuracy (maximize).

    Args:
        train_data, val_data: Datasets, DataLoaders, or tuples ``(inputs, integer targets)``.
        epochs, optimizer (``"adam"``, ``"adamw"``, ``"sgd"``), learning_rate, weight_decay,
        batch_size, device, seed: the training loop's settings.
    """

    direction = "maximize"

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output, target)

    def _validate(self, model: nn.Module, loader: DataLoader) -> float:
        correct = total = 0
        device = torch.device(self.device)
        for inputs, targets in loader:
            pred = model(inputs.to(device)).argmax(1)
            correct += int((pred == targets.to(device)).sum())
            total += len(targets)
        return correct / max(total, 1)


class Regression(_SupervisedEvaluator):
    """Mean-squared-error training; the metric is validation MSE (minimize)."""

    direction = "minimize"

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(output.reshape(target.shape), target)

    def _validate(self, model: nn.Module, loader: DataLoader) -> float:
        total = 0.0
        count = 0
        device = torch.device(self.device)
        for inputs, targets in loader:
            out = model(inputs.to(device)).reshape(targets.shape)
            total += float(nn.functional.mse_loss(out, targets.to(device), reduction="sum"))
            count += targets.numel()
        return total / max(count, 1)


__all__ = ["Classification", "Regression"]
