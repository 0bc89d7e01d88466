"""Lightning evaluators: a user's ``LightningModule`` and ``Trainer`` settings train each trial.

NNI's evaluators are PyTorch Lightning; these take what an NNI user already has. :class:`Lightning`
wraps any ``LightningModule``: a factory (the module class itself, usually) receives the frozen
model, a fresh ``Trainer`` is built from keyword arguments for every trial, and the metric is a key
the module logs (``self.log("val_acc", ...)``). :class:`Classification` and :class:`Regression` are
ready-made modules with NNI's arguments (``criterion``, ``learning_rate``, ``optimizer``, ...; the
other keywords go to the ``Trainer``).

Inside an experiment, after every validation run the logged metric goes to ``ctx.report`` through
a callback, so ASHA, Hyperband and median stopping judge Lightning trials; a stop verdict sets
``trainer.should_stop`` (Lightning's own early stop: the epoch ends and ``fit`` returns) and the
trial is recorded ``pruned`` with its curve. Checkpoints and logs go to the trial's folder
(``default_root_dir``), where an interrupted trial finds them again. With
``Experiment(..., trial_processes=N)`` each trial runs as N ranks and the ``Trainer`` defaults to
``strategy="ddp"`` over them (see :mod:`archspace.experiment.executors._ranks`).

Lightning is an extra (``pip install 'archspace[lightning]'``, which installs ``pytorch-lightning``;
``lightning.pytorch`` works too): this module imports it only when an evaluator is built.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

from torch import nn

from archspace.evaluate.base import Evaluator, EvaluatorError, MetricError, TrialContext

MODES = {"max": "maximize", "min": "minimize"}
#: Trainer settings the evaluator chooses unless given (progress bars and summaries are noise in workers).
QUIET_DEFAULTS = {"enable_progress_bar": False, "enable_model_summary": False}


def _lightning() -> Any:
    """The Lightning-dependent half (:mod:`archspace.evaluate._lightning`), imported on first use."""
    from archspace.evaluate import _lightning as impl

    return impl


def _is_module_class(value: Any) -> bool:
    return isinstance(value, type) and any(c.__name__ == "LightningModule" for c in value.__mro__)


def _is_module_instance(value: Any) -> bool:
    return not isinstance(value, type) and _is_module_class(type(value))


@contextlib.contextmanager
def _quiet(pl: ModuleType, enabled: bool) -> Iterator[None]:
    """Lightning's per-fit notices (devices, summaries, data-loader workers) held back in workers."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(name) for name in (pl.__name__, f"{pl.__name__}.utilities.rank_zero",
                                                    "lightning.fabric", "lightning_fabric")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*number of training batches.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")  # Lightning on newer torch
            warnings.filterwarnings("ignore", message=".*tensorboardX.*has been removed.*")
            yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


class Lightning(Evaluator):
    """Trains each trial's model with a ``LightningModule`` and a ``Trainer`` (see the module docstring).

    Args:
        module: what makes the trial's ``LightningModule``: its class (called as ``module(model)``,
            the frozen model as the first argument), any factory ``module(model) -> LightningModule``
            (a module-level function or ``functools.partial``, to reach worker processes), or an
            instance with ``set_model(model)`` as NNI's modules have (deep-copied for each trial).
        trainer: the ``Trainer``'s keyword arguments, e.g. ``{"max_epochs": 10, "accelerator":
            "cpu"}`` (a ``Trainer`` object cannot travel to workers; each trial gets a fresh one).
            ``callbacks`` are deep-copied for each trial. Defaults chosen here unless given:
            ``default_root_dir`` is the trial's folder (checkpoints and logs land there; without an
            experiment directory no logger and no checkpoints), no progress bar, no model summary.
        train_dataloaders, val_dataloaders: as ``Trainer.fit`` takes them (picklable: module-level datasets).
        datamodule: a ``LightningDataModule`` instead of the dataloaders.
        metric: the logged key the trial is scored on (``val_acc``, ``val_loss``, ...); it is
            reported after every validation run and its last value is the trial's metric. The
            result also holds every other scalar the module logged.
        mode: ``"max"`` or ``"min"``, as Lightning's ``ModelCheckpoint``/``EarlyStopping`` say it;
            or give ``direction`` (``"maximize"``/``"minimize"``). One of them is required.
        fit_kwargs: more keyword arguments of ``Trainer.fit`` (e.g. ``ckpt_path``).
        quiet: hold back Lightning's informational logs and data-loader warnings during a trial.

    Example:
        >>> import torch
        >>> evaluator = Lightning(lambda model: None, {"max_epochs": 2}, train_dataloaders=[], metric="val_acc",
        ...                       mode="max")
        >>> evaluator.direction, evaluator.primary
        ('maximize', 'val_acc')
    """

    def __init__(self, module: Any, trainer: Mapping[str, Any] | None = None, *, train_dataloaders: Any = None,
                 val_dataloaders: Any = None, datamodule: Any = None, metric: str, mode: str | None = None,
                 direction: str | None = None, fit_kwargs: Mapping[str, Any] | None = None,
                 quiet: bool = True) -> None:
        if not callable(module) and not _is_module_instance(module):
            raise EvaluatorError(f"Lightning needs a LightningModule class, a factory module(model) -> LightningModule "
                                 f"or a module with set_model(model); got {module!r}")
        if _is_module_instance(module) and not callable(getattr(module, "set_model", None)):
            raise EvaluatorError(f"the LightningModule instance {type(module).__name__} has no set_model(model): pass "
                                 "its class (called as cls(model)) or a factory function instead")
        if trainer is not None and not isinstance(trainer, Mapping):
            raise EvaluatorError(f"trainer must be the Trainer's keyword arguments as a mapping (e.g. "
                                 f"{{'max_epochs': 10}}), not {type(trainer).__name__}: a Trainer object cannot be "
                                 "reused across trials or sent to workers")
        if not isinstance(metric, str) or not metric:
            raise EvaluatorError(f"metric must be the name of a logged value such as 'val_acc', got {metric!r}")
        if mode is not None and mode not in MODES:
            raise EvaluatorError(f"mode must be 'max' or 'min', got {mode!r}")
        if direction is not None and direction not in MODES.values():
            raise EvaluatorError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        if mode is not None and direction is not None and MODES[mode] != direction:
            raise EvaluatorError(f"mode={mode!r} and direction={direction!r} disagree; give one of them")
        if mode is None and direction is None:
            raise EvaluatorError(f"say which way {metric!r} should go: mode='max' or mode='min' (or direction=...)")
        if datamodule is not None and (train_dataloaders is not None or val_dataloaders is not None):
            raise EvaluatorError("give a datamodule or dataloaders, not both")
        if datamodule is None and train_dataloaders is None:
            raise EvaluatorError("Lightning needs train_dataloaders (and val_dataloaders to score on), or a datamodule")
        settings = dict(trainer or {})
        for reserved in ("model", "train_dataloaders", "val_dataloaders", "datamodule"):
            if reserved in dict(fit_kwargs or {}):
                raise EvaluatorError(f"fit_kwargs may not set {reserved!r}: it is the evaluator's own argument")
        impl = _lightning()
        pl = impl.package_of_class(module) if _is_module_class(module) else (
            impl.package_of(module) if _is_module_instance(module) else impl.default_package())
        impl.check_trainer_kwargs(pl, settings)
        self.module = module
        self.trainer = settings
        self.train_dataloaders = train_dataloaders
        self.val_dataloaders = val_dataloaders
        self.datamodule = datamodule
        self.metric = metric
        self.primary = metric
        self.direction = direction or MODES[str(mode)]
        self.fit_kwargs = dict(fit_kwargs or {})
        self.quiet = quiet

    def build_module(self, model: nn.Module) -> Any:
        """The trial's ``LightningModule`` around ``model``."""
        if _is_module_instance(self.module):
            module = copy.deepcopy(self.module)
            module.set_model(model)
            return module
        return self.module(model)

    def trainer_kwargs(self, ctx: TrialContext) -> dict[str, Any]:
        """The trial's ``Trainer`` arguments: the given ones, completed (see the class docstring)."""
        kwargs = {**QUIET_DEFAULTS, **copy.deepcopy(self.trainer)}
        out = ctx.output_dir
        if out is not None:
            kwargs.setdefault("default_root_dir", str(out))
        else:
            kwargs.setdefault("logger", False)
            kwargs.setdefault("enable_checkpointing", False)
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:  # a trial's ranks
            kwargs.setdefault("strategy", "ddp")
            kwargs.setdefault("devices", int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size())))
            kwargs.setdefault("num_nodes", max(1, dist.get_world_size() // int(kwargs["devices"])))
        return kwargs

    def evaluate(self, model: nn.Module, ctx: TrialContext) -> dict[str, float]:
        impl = _lightning()
        module = self.build_module(model)
        pl = impl.package_of(module)
        kwargs = self.trainer_kwargs(ctx)
        kwargs["callbacks"] = [*list(kwargs.get("callbacks") or []), impl.reporter(pl, ctx, self.metric)]
        with _quiet(pl, self.quiet):
            trainer = pl.Trainer(**kwargs)
            trainer.fit(module, train_dataloaders=self.train_dataloaders, val_dataloaders=self.val_dataloaders,
                        datamodule=self.datamodule, **self.fit_kwargs)
        metrics = impl.logged_metrics(trainer)
        if self.metric not in metrics:
            if ctx.should_stop():  # stopped before it was ever logged: pruned, with what was reported
                return metrics
            raise MetricError(f"the LightningModule never logged {self.metric!r} (with a finite value); it logged "
                              f"{sorted(metrics)}: log it in validation_step (self.log({self.metric!r}, ...)) and "
                              "give val_dataloaders")
        return {**metrics, self.metric: metrics[self.metric]}

    def __repr__(self) -> str:
        name = getattr(self.module, "__qualname__", type(self.module).__name__)
        return f"{type(self).__name__}({name}, {self.trainer!r}, metric={self.metric!r}, direction={self.direction!r})"


class _Supervised(Lightning):
    """The built-in module (see :class:`Classification`); subclasses fix the loss and the metric."""

    default_criterion: Callable[[], Any] = nn.CrossEntropyLoss
    score_name = "acc"

    def __init__(self, criterion: Any = None, learning_rate: float = 0.001, weight_decay: float = 0.0,
                 optimizer: Any = None, train_dataloaders: Any = None, val_dataloaders: Any = None,
                 datamodule: Any = None, export_onnx: bool = False, *, quiet: bool = True,
                 **trainer_kwargs: Any) -> None:
        import torch

        if export_onnx:
            raise EvaluatorError("export_onnx is not done per trial here: export the searched model with "
                                 "`archspace export DIR --onnx` (or archspace.hardware's ONNX export)")
        criterion = criterion if criterion is not None else self.default_criterion
        self.criterion = criterion() if isinstance(criterion, type) else criterion
        self.optimizer = optimizer if optimizer is not None else torch.optim.Adam
        if not (isinstance(self.optimizer, type) and issubclass(self.optimizer, torch.optim.Optimizer)):
            raise EvaluatorError(f"optimizer must be a torch.optim.Optimizer class (e.g. torch.optim.SGD), got "
                                 f"{self.optimizer!r}")
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        mode = "max" if self.score_name == "acc" else "min"
        super().__init__(self._module_factory, trainer_kwargs, train_dataloaders=train_dataloaders,
                         val_dataloaders=val_dataloaders, datamodule=datamodule, metric=f"val_{self.score_name}",
                         mode=mode, quiet=quiet)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(criterion={self.criterion!r}, learning_rate={self.learning_rate!r}, "
                f"optimizer={self.optimizer.__name__}, trainer={self.trainer!r})")

    def _module_factory(self, model: nn.Module) -> Any:
        impl = _lightning()
        score = impl.accuracy if self.score_name == "acc" else impl.mse
        return impl.supervised_module(impl.default_package(), model, criterion=self.criterion, metric=self.score_name,
                                      score=score, optimizer=self.optimizer, learning_rate=self.learning_rate,
                                      weight_decay=self.weight_decay)


class Classification(_Supervised):
    """NNI's ``Classification`` evaluator: cross-entropy, Adam, ``val_acc`` (maximize), on Lightning.

    Args:
        criterion: the loss class or callable (default ``nn.CrossEntropyLoss``).
        learning_rate, weight_decay, optimizer: the optimizer (default ``torch.optim.Adam``).
        train_dataloaders, val_dataloaders, datamodule: the data, as :class:`Lightning` takes it.
        export_onnx: NNI's option; refused (export the searched model with ``archspace export --onnx``).
        num_classes: NNI's argument, accepted and not needed (accuracy is the argmax's).
        **trainer_kwargs: the ``Trainer``'s keyword arguments (``max_epochs=10``, ``accelerator=...``).

    The module logs ``train_loss``, ``val_loss`` and ``val_acc``; the trial's metric is ``val_acc``.
    """

    def __init__(self, criterion: Any = None, learning_rate: float = 0.001, weight_decay: float = 0.0,
                 optimizer: Any = None, train_dataloaders: Any = None, val_dataloaders: Any = None,
                 datamodule: Any = None, export_onnx: bool = False, num_classes: int | None = None, *,
                 quiet: bool = True, **trainer_kwargs: Any) -> None:
        self.num_classes = num_classes
        super().__init__(criterion, learning_rate, weight_decay, optimizer, train_dataloaders, val_dataloaders,
                         datamodule, export_onnx, quiet=quiet, **trainer_kwargs)


class Regression(_Supervised):
    """NNI's ``Regression`` evaluator: mean squared error, Adam, ``val_mse`` (minimize), on Lightning.

    Arguments as :class:`Classification`'s (the default criterion is ``nn.MSELoss``).
    """

    default_criterion = nn.MSELoss
    score_name = "mse"


__all__ = ["Classification", "Lightning", "Regression"]
