"""A one-shot search (DARTS, GumbelDARTS, ...) run as an Experiment.

:class:`~archspace.experiment.Experiment` builds this run when its strategy is a
:class:`~archspace.oneshot.OneShotTrainer`; the driver (:mod:`archspace.experiment.driver`) runs
it as it runs the multi-trial loop, its peer, so that a one-shot search gets what a multi-trial
one has: the evaluator's data and loss, the store, the directory lock, Ctrl-C/SIGTERM handling,
``resume()``, ``best()``/``export()`` and the command line.

What comes from where:

- **the algorithm** (``DARTS(...)``): epochs, both optimizers and their schedule, gradient
  clipping, the seed; the search is the algorithm's own ``fit`` loop, unchanged.
- **the evaluator** (a :class:`~archspace.evaluate.SupervisedEvaluator` such as
  ``Classification``): the training set (weights) and validation set (architecture parameters),
  the batch size, the loss and the device; its own optimizer settings are for retraining the
  architecture found (``evaluator.fit(model)``), not for the search.
- **the experiment**: the directory (the trainer checkpoints into ``<directory>/oneshot/``), the
  store and the torch thread count (``threads``).

Order of writes: every finished epoch is stored (``Storage.add_epoch``: losses, the validation
metric of the supernet, the exported sample, every decision's distribution) inside a signal-safe
block; the trainer's checkpoint is atomic. After a crash, ``resume()`` reloads the checkpoint,
re-runs the epoch that was cut short (replacing its row if it got one) and reads the batches
that epoch would have read, so the search ends where an uninterrupted one ends. At the end the
derived sample (the algorithm's answer: :meth:`~archspace.oneshot.OneShotTrainer.select`) is
stored as a succeeded trial, worker ``oneshot``, so ``best()``, ``export()``, ``archspace trials``
and ``archspace export`` work as for any experiment. Its metric: for an algorithm whose answer is
the strongest candidates (DARTS, GumbelDARTS, ProxylessNAS), the supernet's last validation metric;
for one that scores candidates (SPOS's evolution, ENAS's final draws), the answer's selection
score. Each candidate a selection scores is stored as a succeeded trial too (worker
``oneshot-selection``, metric its score in the experiment's direction, ``metrics.selection_score``),
committed as it is scored: the store, CLI and dashboard show the whole selection, and a resume
after a crash in the selection scores none of them again (the selection draws the same
candidates). An experiment's ``constraints`` go to the trainer's ``fit`` for this run, where it
:attr:`~archspace.oneshot.OneShotTrainer.accepts_constraints` (SPOS's evolution: candidates
breaking them are never scored).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from archspace.evaluate.base import Evaluator
from archspace.evaluate.training import SupervisedEvaluator
from archspace.experiment._signals import Terminated
from archspace.experiment.driver import RunContext
from archspace.experiment.errors import ExperimentError, InvalidSettingError
from archspace.oneshot import OneShotTrainer
from archspace.oneshot.checkpoint import read_history
from archspace.space.samples import fingerprint
from archspace.storage import TrialRecord, TrialStatus

logger = logging.getLogger("archspace.experiment")
#: The sub-folder of the experiment directory where the trainer keeps its checkpoint and history.
ONESHOT_DIR = "oneshot"
WORKER = "oneshot"  # the worker name of the trial that holds a one-shot search's result
#: The worker name of the trials a final selection scored (SPOS's evolution, ENAS's draws).
SELECTION_WORKER = "oneshot-selection"
#: Keys under which a trainer's epoch record may already carry the supernet's validation metric.
VALIDATION_KEYS = ("val_accuracy", "val_acc", "val_metric")


def oneshot_directory(experiment_directory: Path) -> Path:
    """Where a one-shot experiment's trainer writes (see :mod:`archspace.oneshot.checkpoint`)."""
    return experiment_directory / ONESHOT_DIR


class _EpochBatches:
    """The batches of the trainer's current epoch, read from the evaluator each time it is iterated.

    The trainer iterates its data once per epoch; asking the evaluator for that epoch's loader
    then (by the trainer's own epoch counter) makes the shuffling a function of the epoch, which
    is what lets a resumed search read the same batches as an uninterrupted one. The validation
    side remembers the target of the batch it handed out last, so :class:`_ScoringLoss` can tell
    a validation batch from a training one.
    """

    def __init__(self, evaluator: SupervisedEvaluator, trainer: OneShotTrainer, which: int) -> None:
        self.evaluator = evaluator
        self.trainer = trainer
        self.which = which
        self.current: torch.Tensor | None = None

    def __iter__(self) -> Iterator[Any]:
        for inputs, targets in self.evaluator.epoch_batches(int(self.trainer.epoch))[self.which]:
            self.current = targets
            yield inputs, targets


class _ScoringLoss:
    """The evaluator's loss, which also scores the validation batches the search computes anyway.

    The architecture steps run the supernet on every validation batch; summing the evaluator's
    metric over those outputs gives the epoch's validation metric without a second pass over the
    validation set (a full pass cost about 15 % of a DARTS epoch). It is a running figure, like a
    training accuracy: the weights move during the epoch, and second-order DARTS scores its
    virtual step's outputs. Where batches cannot be recognised (targets copied to another device),
    the run falls back to a full pass (:meth:`SupervisedEvaluator.score`).
    """

    def __init__(self, evaluator: SupervisedEvaluator, val: _EpochBatches) -> None:
        self.evaluator = evaluator
        self.val = val
        self.total = 0.0
        self.count = 0

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target is self.val.current:
            with torch.no_grad():
                value, count = self.evaluator.batch_metric(output.detach(), target)
            self.total += value
            self.count += count
        return self.evaluator.loss(output, target)

    def take(self) -> float | None:
        """The epoch's validation metric so far (None if no validation batch was seen); resets."""
        value = self.total / self.count if self.count else None
        self.total, self.count = 0.0, 0
        return value


def _plain(value: Any) -> Any:
    """JSON data from an epoch record (tensors and numpy values to lists; NaN to None)."""
    if hasattr(value, "tolist") and callable(value.tolist):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def check_oneshot_settings(trainer: OneShotTrainer, evaluator: Evaluator, *, max_trials: Any, concurrency: Any,
                           max_duration: Any, scheduler: Any, objectives: Any, constraints: Any) -> None:
    """Refuse experiment settings a one-shot search cannot honour, when the experiment is built."""
    name = type(trainer).__name__
    if not isinstance(evaluator, SupervisedEvaluator):
        raise InvalidSettingError(
            f"a one-shot search ({name}) trains the supernet on the evaluator's data, so the evaluator must be a "
            f"SupervisedEvaluator (Classification, Regression), got {type(evaluator).__name__}"
        )
    if max_trials is not None:
        raise InvalidSettingError(f"max_trials does not apply to a one-shot search ({name} trains one supernet); "
                                  f"leave it out and set the search length with {name}(epochs=...)")
    if concurrency != 1:
        raise InvalidSettingError(f"concurrency must be 1 for a one-shot search ({name} trains one supernet in "
                                  f"this process; run under torchrun for data parallelism), got {concurrency!r}")
    if max_duration is not None:
        raise InvalidSettingError(f"max_duration is not supported by a one-shot search ({name} stops after its "
                                  "epochs); stop it with Ctrl-C or SIGTERM and resume() later instead")
    if objectives is not None or (constraints is not None and not trainer.accepts_constraints):
        raise InvalidSettingError(f"objectives and constraints are for multi-trial searches; a one-shot search "
                                  f"({name}) takes hardware costs as a loss term (e.g. "
                                  "GumbelDARTS(latency=LatencyLoss(table, ...))); SPOS's evolutionary search "
                                  "takes constraints")
    if constraints is not None and trainer.has_own_constraint:
        raise InvalidSettingError("constraints are given twice: to the Experiment and to SPOS's evolution; "
                                  "give them once")
    if scheduler is not None:
        raise InvalidSettingError(f"a scheduler stops trials early, but a one-shot search ({name}) runs no "
                                  "trials; leave scheduler out")


class OneShotRun:
    """One run (or resume) of a one-shot experiment; built by ``Experiment``, run by the driver.

    Args:
        trainer: the one-shot algorithm (its settings checked by :func:`check_oneshot_settings`).
    """

    resumable_settings: tuple[str, ...] = ("max_trials", "epochs")

    def __init__(self, trainer: OneShotTrainer) -> None:
        self.trainer = trainer
        self.last: dict[str, Any] = {}

    def run(self, context: RunContext, resume: bool) -> list[TrialRecord]:
        """Search (or continue a search) to the trainer's epochs; store and return the result trial."""
        if not isinstance(context.evaluator, SupervisedEvaluator):
            raise InvalidSettingError("a one-shot search needs a SupervisedEvaluator (checked when built)")
        self.ctx = context
        self.storage = storage = context.storage
        self.evaluator: SupervisedEvaluator = context.evaluator
        self.train_batches = _EpochBatches(self.evaluator, self.trainer, 0)
        self.val_batches = _EpochBatches(self.evaluator, self.trainer, 1)
        self.loss = _ScoringLoss(self.evaluator, self.val_batches)
        done = [t for t in storage.trials(TrialStatus.SUCCEEDED) if t.worker != SELECTION_WORKER]
        if done:
            logger.info("the one-shot search in %s has finished already: nothing to resume", context.directory)
            return storage.trials()
        if not resume and storage.epochs():
            raise ExperimentError(f"{context.directory} already holds this one-shot search's epochs; "
                                  "call resume() to continue it")
        with context.signals.critical():
            unfinished = storage.requeue_unfinished()  # a result trial cut short while being stored
            if resume:
                self._recover_epochs()
        known = {fingerprint(t.sample): float(t.metrics["selection_score"]) for t in storage.trials(TrialStatus.SUCCEEDED)
                 if t.worker == SELECTION_WORKER and isinstance(t.metrics.get("selection_score"), (int, float))}
        try:
            sample = self.trainer.fit(
                context.space, self.train_batches, self.val_batches, loss_fn=self.loss,
                directory=self.checkpoint_dir, device=self.evaluator.device, resume=resume,
                on_epoch=self._record_epoch, threads=context.threads,
                on_candidate=self._record_candidate, known_candidates=known, annotate_epoch=self._annotate_epoch,
                constraint=context.scoring.filter,
            )
        except KeyboardInterrupt as exc:
            why = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted by the user (Ctrl-C)"
            logger.warning("%s during epoch %d of the one-shot search; resume() continues from the last "
                           "checkpoint", why, int(self.trainer.epoch))
            raise
        self._store_result(sample, unfinished[0] if unfinished else None)
        return storage.trials()

    @property
    def checkpoint_dir(self) -> Path | None:
        """Where the trainer writes its checkpoint and architecture history."""
        return None if self.ctx.directory is None else oneshot_directory(self.ctx.directory)

    # Selection -----------------------------------------------------------------------------------
    def _stored_metric(self, score: float) -> float:
        """A selection score (higher is better: accuracy, or the negated loss) as the experiment's
        metric: the same number when maximizing, negated (back to the loss) when minimizing."""
        return score if self.ctx.direction == "maximize" else -score

    def _record_candidate(self, sample: Mapping[str, Any], score: float) -> None:
        """Store one architecture the final selection scored as a succeeded trial of its own."""
        metrics = {"selection_score": float(score), "algorithm": type(self.trainer).__name__, "phase": "selection"}
        with self.ctx.signals.critical():
            trial_id = self.storage.create_trial(dict(sample), None)
            self.storage.start_trial(trial_id, SELECTION_WORKER)
            self.storage.finish_trial(trial_id, TrialStatus.SUCCEEDED, self._stored_metric(score), metrics, None)

    # Epochs ---------------------------------------------------------------------------------------
    def _validation_metric(self, record: Mapping[str, Any]) -> float:
        """The supernet's validation metric: the trainer's, else the one scored along the
        architecture steps, else a full pass of the evaluator over the validation set."""
        running = self.loss.take()
        for key in VALIDATION_KEYS:
            if isinstance(record.get(key), (int, float)):
                return float(record[key])
        if running is not None:
            return running
        with torch.random.fork_rng(devices=[]):  # scoring must not move the search's random stream
            return self.evaluator.score(self.trainer.supernet)

    def _annotate_epoch(self, record: dict[str, Any]) -> None:
        """The trainer's ``annotate_epoch`` callback: the epoch's validation metric goes into its
        record before the trainer writes its history and checkpoint, so an epoch recovered from
        the history after a crash (:meth:`_recover_epochs`) has it too."""
        record["val_metric"] = self._validation_metric(record)

    def _record_epoch(self, record: dict[str, Any]) -> None:
        """The trainer's ``on_epoch`` callback: store the finished epoch."""
        row = _plain(record)
        if not isinstance(row.get("val_metric"), (int, float)):
            row["val_metric"] = self._validation_metric(record)
        epoch = int(row.get("epoch", int(self.trainer.epoch) - 1))
        with self.ctx.signals.critical():
            self.storage.add_epoch(epoch, row)
        self.last = row

    def _recover_epochs(self) -> None:
        """Store epochs the trainer recorded in its history but the store missed (a crash between the
        trainer's checkpoint and the store's write); the rest is re-run and recorded again."""
        directory = self.checkpoint_dir
        if directory is None:
            return
        stored = {row["epoch"] for row in self.storage.epochs()}
        for record in read_history(directory):  # a convenience file: what it lacks is re-run and recorded
            if isinstance(record.get("epoch"), int) and record["epoch"] not in stored:
                self.storage.add_epoch(record["epoch"], _plain(record))

    # The result -------------------------------------------------------------------------------------
    def _store_result(self, sample: Mapping[str, Any], trial_id: int | None) -> None:
        """Store the derived architecture as a succeeded trial (reusing one cut short while stored)."""
        sample = self.ctx.space.validate(dict(sample))
        epochs = self.storage.epochs()
        last = epochs[-1] if epochs else self.last
        selected = self.trainer.answer_score
        metric = self._stored_metric(selected) if selected is not None else last.get("val_metric")
        if not isinstance(metric, (int, float)):
            with torch.random.fork_rng(devices=[]):
                metric = self.evaluator.score(self.trainer.supernet)
        metrics = {"default": float(metric), "epochs": len(epochs), "algorithm": type(self.trainer).__name__,
                   "selected_by": "selection" if selected is not None else "logits",
                   **({"selection_score": float(selected)} if selected is not None else {}),
                   **{k: v for k, v in last.items() if k.endswith("_loss")},
                   **_plain(dict(self.trainer.answer_details))}
        with self.ctx.signals.critical():
            if trial_id is None:
                trial_id = self.storage.create_trial(dict(sample), None)
            self.storage.start_trial(trial_id, WORKER)
            for row in epochs:  # the search's validation curve, where the dashboard looks for curves
                if isinstance(row.get("val_metric"), (int, float)):
                    self.storage.add_intermediate(trial_id, int(row["epoch"]) + 1, float(row["val_metric"]))
            self.storage.finish_trial(trial_id, TrialStatus.SUCCEEDED, float(metric), metrics, None)
        logger.info("one-shot search finished after %d epochs: validation metric %.4f of the supernet; "
                    "sample %s", len(epochs), float(metric), json.dumps(dict(sample), sort_keys=True))


__all__ = ["ONESHOT_DIR", "SELECTION_WORKER", "WORKER", "OneShotRun", "check_oneshot_settings", "oneshot_directory"]
