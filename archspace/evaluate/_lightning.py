"""The parts of the Lightning evaluator that need Lightning itself (imported when a trial runs).

Lightning ships as ``pytorch_lightning`` and as ``lightning.pytorch``; a ``Trainer`` of one refuses
the modules and callbacks of the other, so the trainer, the reporting callback and the built-in
modules come from the package the user's ``LightningModule`` comes from (:func:`package_of`).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import torch
from torch import nn

from archspace.evaluate.base import EvaluatorError, TrialContext

PACKAGES = ("pytorch_lightning", "lightning.pytorch")
_CLASSES: dict[tuple[str, str], type] = {}


def default_package() -> ModuleType:
    """The installed Lightning: ``pytorch_lightning`` (the ``archspace[lightning]`` extra), else ``lightning.pytorch``."""
    for name in PACKAGES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise EvaluatorError("the Lightning evaluator needs PyTorch Lightning: pip install 'archspace[lightning]'")


def package_of_class(cls: type) -> ModuleType:
    """The Lightning package whose ``LightningModule`` ``cls`` derives from (Trainer and callbacks must match)."""
    for base in cls.__mro__:
        if base.__name__ != "LightningModule":
            continue
        for name in PACKAGES:
            if base.__module__.startswith(name):
                return importlib.import_module(name)
    raise EvaluatorError(f"the Lightning evaluator's module factory made a {cls.__name__}, which is not a "
                         "LightningModule (of pytorch_lightning or lightning.pytorch)")


def package_of(module: Any) -> ModuleType:
    """:func:`package_of_class` of ``module``'s class."""
    return package_of_class(type(module))


def _class(pl: ModuleType, name: str, build: Callable[[ModuleType], type]) -> type:
    key = (pl.__name__, name)
    if key not in _CLASSES:
        _CLASSES[key] = build(pl)
    return _CLASSES[key]


def _reporter_class(pl: ModuleType) -> type:
    callback: Any = pl.Callback

    class ReportToTrial(callback):
        """Reports the monitored metric after every validation run to the trial (``ctx.report``);
        on the scheduler's stop it sets ``trainer.should_stop``, Lightning's own way to end a fit
        early (as its ``EarlyStopping`` does): the epoch ends, then ``fit`` returns."""

        def __init__(self, ctx: TrialContext, metric: str) -> None:
            self.ctx = ctx
            self.metric = metric
            self.step = 0

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking or self.ctx.should_stop():
                return
            value = trainer.callback_metrics.get(self.metric)
            if value is None:
                return  # not logged in this validation run; the final check names the keys
            self.step = max(int(trainer.current_epoch) + 1, self.step + 1)
            if self.ctx.report(float(value), step=self.step, raise_pruned=False):
                trainer.should_stop = True

    return ReportToTrial


def reporter(pl: ModuleType, ctx: TrialContext, metric: str) -> Any:
    """The callback that carries ``metric`` to ``ctx.report`` (see ``ReportToTrial``)."""
    return _class(pl, "reporter", _reporter_class)(ctx, metric)


def _supervised_class(pl: ModuleType) -> type:
    base: Any = pl.LightningModule

    class SupervisedModule(base):
        """A frozen model trained with a loss, scored by a metric; logs ``train_loss``,
        ``val_loss`` and ``val_<metric>`` (the built-in Classification and Regression)."""

        def __init__(self, model: nn.Module, *, criterion: Callable[..., torch.Tensor], metric: str,
                     score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], optimizer: type,
                     learning_rate: float, weight_decay: float) -> None:
            super().__init__()
            self.model = model
            self.criterion = criterion
            self.metric = metric
            self.score = score
            self.optimizer = optimizer
            self.learning_rate = learning_rate
            self.weight_decay = weight_decay

        def forward(self, x: torch.Tensor) -> Any:
            return self.model(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = self.criterion(_main(self(x)), y)
            self.log("train_loss", loss, prog_bar=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            out = _main(self(x))
            self.log("val_loss", self.criterion(out, y), prog_bar=True)
            self.log(f"val_{self.metric}", self.score(out, y), prog_bar=True)

        def configure_optimizers(self) -> Any:
            return self.optimizer(self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)

    return SupervisedModule


def _main(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The share of rows whose argmax is the target class."""
    return (output.argmax(1) == target).float().mean()


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error, the output reshaped to the target."""
    return nn.functional.mse_loss(output.reshape(target.shape), target)


def supervised_module(pl: ModuleType, model: nn.Module, **options: Any) -> Any:
    """The built-in LightningModule around ``model`` (see ``SupervisedModule``)."""
    return _class(pl, "supervised", _supervised_class)(model, **options)


def logged_metrics(trainer: Any) -> dict[str, float]:
    """The trainer's last logged scalars (``callback_metrics``) as floats, non-finite ones left out."""
    values: dict[str, float] = {}
    for key, value in trainer.callback_metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            number = float(value.detach().cpu())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            continue
        if math.isfinite(number):
            values[str(key)] = number
    return values


def check_trainer_kwargs(pl: ModuleType, kwargs: Mapping[str, Any]) -> None:
    """Refuse keywords ``Trainer`` does not take, naming the close ones (before any trial trains)."""
    import inspect

    accepted = set(inspect.signature(pl.Trainer.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        import difflib

        hints = {k: difflib.get_close_matches(k, accepted, 1) for k in unknown}
        said = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise EvaluatorError(f"{pl.__name__}.Trainer takes no argument {said}")


__all__ = ["PACKAGES", "accuracy", "check_trainer_kwargs", "default_package", "logged_metrics", "mse",
           "package_of", "package_of_class", "reporter", "supervised_module"]
