"""Classification and Regression: plain PyTorch training loops as evaluators.

Each trains the model for ``epochs`` on the training data and reports the validation metric
after every epoch (accuracy for classification, mean squared error for regression); the last
epoch's value is the trial's metric. The same loop retrains a searched architecture
(``evaluator.fit(model)``), so it has what retraining recipes such as DARTS' need: models that
return ``(logits, aux_logits)`` with an auxiliary loss weight, a learning-rate schedule, gradient
clipping and a hook at the start of every epoch (e.g. :class:`DropPathSchedule`).

A one-shot search inside an :class:`~archspace.experiment.Experiment` reads its data through the
same evaluator (:meth:`SupervisedEvaluator.epoch_batches`, :meth:`SupervisedEvaluator.loss`,
:meth:`SupervisedEvaluator.score`), so the search and the retraining see the same data and loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from archspace.errors import ArchspaceError
from archspace.evaluate.base import Evaluator, EvaluatorError, TrialContext

DataLike = Dataset | DataLoader | Sequence[torch.Tensor]
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULES = (None, "constant", "cosine")
EpochHook = Callable[[nn.Module, int, int], None]


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


def _main_output(output: Any) -> torch.Tensor:
    """The logits of a model that returns ``logits`` or ``(logits, aux_logits)``."""
    return output[0] if isinstance(output, (tuple, list)) else output


class DropPathSchedule:
    """Epoch hook raising a model's drop-path probability linearly, as DARTS retrains.

    At the start of epoch ``e`` of ``E`` it calls ``model.set_drop_path(max_prob * e / E)`` (the
    DARTS recipe: 0 at the first epoch, approaching 0.2). A class rather than a lambda so that
    worker processes can unpickle it.

    Args:
        max_prob: the probability approached at the last epoch.

    Example:
        >>> from archspace.hub import DartsSpace
        >>> model = DartsSpace.small()
        >>> DropPathSchedule(0.2)(model, 5, 10)
    """

    def __init__(self, max_prob: float = 0.2) -> None:
        if isinstance(max_prob, bool) or not isinstance(max_prob, (int, float)) or not 0 <= max_prob < 1:
            raise EvaluatorError(f"DropPathSchedule max_prob must be a number in [0, 1), got {max_prob!r}")
        self.max_prob = float(max_prob)

    def __call__(self, model: nn.Module, epoch: int, epochs: int) -> None:
        setter = getattr(model, "set_drop_path", None) or getattr(model, "set_drop_path_prob", None)
        if setter is None:
            raise EvaluatorError(f"DropPathSchedule needs a model with set_drop_path(p) (e.g. DartsSpace); "
                                 f"{type(model).__name__} has none")
        setter(self.max_prob * epoch / max(epochs, 1))

    def __repr__(self) -> str:
        return f"DropPathSchedule({self.max_prob})"


class SupervisedEvaluator(Evaluator):
    """The training loop shared by :class:`Classification` and :class:`Regression`.

    Args:
        train_data, val_data: Datasets, DataLoaders, or tuples ``(inputs, targets)``.
        epochs: training epochs.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"``, or a mapping with ``name`` and the
            optimizer's own arguments, e.g. ``{"name": "sgd", "momentum": 0.9}`` (DARTS retraining).
        learning_rate, weight_decay: the optimizer's.
        schedule: ``None``/``"constant"``, or ``"cosine"`` (annealed per epoch to 0 at the end).
        grad_clip: clip the gradient norm to this value (None: no clipping; DARTS uses 5).
        aux_weight: for models that return ``(logits, aux_logits)`` while training, the auxiliary
            loss is added with this weight (DARTS: 0.4); 0 ignores the auxiliary output.
        epoch_hook: ``hook(model, epoch, epochs)`` called at the start of every epoch, e.g.
            :class:`DropPathSchedule`; must be picklable (module level) for the process executor.
        batch_size, device, seed: the loop's settings (validation uses 4x the batch size).
    """

    def __init__(self, train_data: DataLike, val_data: DataLike, *, epochs: int = 1,
                 optimizer: str | Mapping[str, Any] = "adam", learning_rate: float = 1e-3,
                 weight_decay: float = 0.0, schedule: str | None = None, grad_clip: float | None = None,
                 aux_weight: float = 0.0, epoch_hook: EpochHook | None = None, batch_size: int = 64,
                 device: str = "cpu", seed: int = 0) -> None:
        options: dict[str, Any] = {}
        if isinstance(optimizer, Mapping):
            options = dict(optimizer)
            optimizer = options.pop("name", None)
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            raise ArchspaceError(f"unknown optimizer {optimizer!r}; known optimizers: {sorted(OPTIMIZERS)} "
                                 "(or a mapping with 'name' and the optimizer's arguments)")
        if not isinstance(epochs, int) or epochs < 1:
            raise ArchspaceError(f"epochs must be a positive int, got {epochs!r}")
        if schedule not in SCHEDULES:
            raise EvaluatorError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
        if grad_clip is not None and (isinstance(grad_clip, bool) or not isinstance(grad_clip, (int, float))
                                      or grad_clip <= 0):
            raise EvaluatorError(f"grad_clip must be a positive number or None, got {grad_clip!r}")
        if isinstance(aux_weight, bool) or not isinstance(aux_weight, (int, float)) or aux_weight < 0:
            raise EvaluatorError(f"aux_weight must be a number >= 0, got {aux_weight!r}")
        if epoch_hook is not None and not callable(epoch_hook):
            raise EvaluatorError(f"epoch_hook must be callable as hook(model, epoch, epochs), got {epoch_hook!r}")
        self.train_data = train_data
        self.val_data = val_data
        self.epochs = epochs
        self.optimizer = optimizer.lower()
        self.optimizer_options = options
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.aux_weight = float(aux_weight)
        self.epoch_hook = epoch_hook
        self.batch_size = batch_size
        self.device = device
        self.seed = seed

    # What a loop (this one, or a one-shot search) needs from the evaluator ------------------------
    def criterion(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of one output tensor (cross-entropy, MSE, ...)."""
        raise NotImplementedError

    def loss(self, output: Any, target: torch.Tensor) -> torch.Tensor:
        """The training loss: :meth:`criterion` of the logits, plus ``aux_weight`` times that of
        the auxiliary logits when the model returns ``(logits, aux_logits)``."""
        if isinstance(output, (tuple, list)):
            main = self.criterion(output[0], target)
            if self.aux_weight and len(output) > 1 and output[1] is not None:
                return main + self.aux_weight * self.criterion(output[1], target)
            return main
        return self.criterion(output, target)

    def batch_metric(self, output: Any, target: torch.Tensor) -> tuple[float, int]:
        """The metric summed over one batch, and what it counts (its mean is ``sum / count``), so
        that a loop can score batches it computes anyway (a one-shot search's validation steps)."""
        raise NotImplementedError

    def _metric(self, model: nn.Module, loader: DataLoader) -> float:
        total, count = 0.0, 0
        device = torch.device(self.device)
        for inputs, targets in loader:
            value, n = self.batch_metric(model(inputs.to(device)), targets.to(device))
            total += value
            count += n
        return total / max(count, 1)

    def score(self, model: nn.Module) -> float:
        """The validation metric of ``model`` (eval mode, no gradients; the mode is restored)."""
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return self._metric(model, _loader(self.val_data, self.batch_size * 4, False, self.seed))
        finally:
            model.train(was_training)

    def epoch_batches(self, epoch: int) -> tuple[DataLoader, DataLoader]:
        """The training and validation batches of one epoch of a one-shot search.

        Both are shuffled (weights learn on the training set, architecture parameters on the
        validation set, as DARTS splits its data) by generators seeded from ``(seed, epoch)``:
        a search resumed at any epoch reads exactly the batches an uninterrupted one would.
        DataLoaders given by the user are used as they are.
        """
        base = self.seed * 1_000_003 + 2 * epoch
        return (_loader(self.train_data, self.batch_size, True, base),
                _loader(self.val_data, self.batch_size, True, base + 1))

    # The training loop --------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, ctx: TrialContext) -> float:
        torch.manual_seed(self.seed)
        device = torch.device(self.device)
        model = model.to(device)
        train = _loader(self.train_data, self.batch_size, True, self.seed)
        opt = OPTIMIZERS[self.optimizer](model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay,
                                         **self.optimizer_options)
        scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.epochs)
                     if self.schedule == "cosine" else None)
        metric = float("nan")
        for epoch in range(self.epochs):
            if self.epoch_hook is not None:
                self.epoch_hook(model, epoch, self.epochs)
            model.train()
            for inputs, targets in train:
                inputs, targets = inputs.to(device), targets.to(device)
                opt.zero_grad(set_to_none=True)
                loss = self.loss(model(inputs), targets)
                loss.backward()
                if self.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                opt.step()
            if scheduler is not None:
                scheduler.step()
            metric = self.score(model)
            ctx.report(metric, step=epoch + 1)
        return metric


class Classification(SupervisedEvaluator):
    """Cross-entropy training; the metric is validation accuracy (maximize).

    The arguments are :class:`SupervisedEvaluator`'s; the targets are integer class labels.

    Example (retraining with the DARTS recipe, then ``Classification(...).fit(model)``):
        >>> import torch
        >>> data = (torch.randn(16, 4), torch.randint(0, 3, (16,)))
        >>> evaluator = Classification(data, data, epochs=2, optimizer={"name": "sgd", "momentum": 0.9},
        ...                            learning_rate=0.05, schedule="cosine", grad_clip=5.0)
        >>> 0.0 <= evaluator.fit(torch.nn.Linear(4, 3)) <= 1.0
        True
    """

    direction = "maximize"

    def criterion(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output, target)

    def batch_metric(self, output: Any, target: torch.Tensor) -> tuple[float, int]:
        pred = _main_output(output).argmax(1)
        return float((pred == target).sum()), len(target)


class Regression(SupervisedEvaluator):
    """Mean-squared-error training; the metric is validation MSE (minimize)."""

    direction = "minimize"

    def criterion(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(output.reshape(target.shape), target)

    def batch_metric(self, output: Any, target: torch.Tensor) -> tuple[float, int]:
        out = _main_output(output).reshape(target.shape)
        return float(nn.functional.mse_loss(out, target, reduction="sum")), target.numel()


__all__ = ["Classification", "DropPathSchedule", "Regression", "SupervisedEvaluator"]
