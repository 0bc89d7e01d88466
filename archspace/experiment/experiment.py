"""Experiment: an architecture search — multi-trial or one-shot — with its store, resume and export.

An experiment checks its settings when it is built and keeps the public API (``run``, ``resume``,
``best``, ``export``, ``pareto``, ...). Running is delegated: the driver
(:mod:`archspace.experiment.driver`) holds the directory, its lock, the log, the signals and the
store, and runs one of two peers — :class:`~archspace.experiment.multi_trial.MultiTrialRun` (the
ask/record/run/tell loop through an executor) or :class:`~archspace.experiment.oneshot_run.OneShotRun`
(one supernet) — neither of which imports the other or this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archspace.evaluate.base import Evaluator
from archspace.experiment._signals import DriverSignals
from archspace.experiment.driver import Driver, RunContext
from archspace.experiment.errors import ExperimentError, InvalidSettingError, Terminated, check_int, check_seconds
from archspace.experiment.executors import EXECUTORS, Executor
from archspace.experiment.executors.base import check_trial_processes
from archspace.experiment.multi_trial import MultiTrialRun
from archspace.experiment.oneshot_run import OneShotRun, check_oneshot_settings
from archspace.experiment.proxy_start import check_proxy_start
from archspace.experiment.results import rank, write_export
from archspace.experiment.runner import KeepWeights, check_keep_weights
from archspace.experiment.scoring import ConstraintsSpec, Scoring, ScoringError, declared_metrics
from archspace.experiment.source import RunSource, SpaceRef, space_fingerprint
from archspace.nn.space import ModelSpace
from archspace.objectives import ObjectivesSpec, hypervolume, pareto_indices
from archspace.oneshot import OneShotTrainer
from archspace.schedule.base import Scheduler
from archspace.space.samples import Sample
from archspace.storage import Storage, TrialRecord, TrialStatus, open_storage
from archspace.strategy.base import Strategy, pareto_strategies

logger = logging.getLogger("archspace.experiment")


DIRECTIONS = ("maximize", "minimize")


class Experiment:
    """An architecture search: multi-trial, or one-shot.

    With a multi-trial strategy the experiment asks it for samples and runs each as a trial. With
    a one-shot algorithm (``DARTS(...)``, ``GumbelDARTS(...)``, anything in
    :data:`archspace.oneshot.ONESHOT`) it trains the supernet on the evaluator's data with the
    evaluator's loss, records every epoch (:meth:`epochs`), checkpoints into ``directory`` and
    stores the derived architecture as the one succeeded trial (see
    :mod:`archspace.experiment.oneshot_run`); ``max_trials`` and ``concurrency`` do not apply.

    Args:
        space: the model space.
        evaluator: trains and scores each frozen sample; for a one-shot search, a
            :class:`~archspace.evaluate.SupervisedEvaluator` (``Classification``, ``Regression``)
            whose data, batch size, loss and device the search uses.
        strategy: proposes samples (a :class:`~archspace.strategy.Strategy`), or a one-shot
            algorithm (a :class:`~archspace.oneshot.OneShotTrainer`).
        max_trials: stop after this many trials (failed ones count).
        max_duration: stop after this many seconds (running trials are marked interrupted).
        concurrency: trials at once (process executor).
        executor: ``"process"`` (default), ``"inline"``, or an :class:`Executor` (e.g.
            ``ProcessExecutor(2, max_trials_per_worker=20)`` for worker recycling).
        directory: where ``experiment.db`` and ``experiment.log`` go; None keeps everything in memory.
            One driver at a time may run an experiment directory (an OS lock held while it runs).
        seed: seeds the strategy.
        direction: ``"maximize"`` or ``"minimize"``; default: the evaluator's.
        trial_timeout: seconds after which a trial is stopped and recorded as ``timeout``.
        progress: show a progress bar, as ``archspace run`` does (default: when stderr is a
            terminal). Either way each failed trial's one-line reason is printed as it happens
            (a warning of logger ``archspace.experiment``; see :mod:`archspace.experiment.progress`
            for how to silence it).
        threads: torch threads of a one-shot search (default: one per CPU this process may use,
            as the process executor shares them out; the choice is logged). Set it to 1 on a
            machine shared with other jobs: oversubscribed cores make small steps many times slower.
        scheduler: stops poor trials early from their reported results (a
            :class:`~archspace.schedule.Scheduler`: ``ASHA``, ``Hyperband``, ``MedianStopping``);
            stopped trials are recorded ``pruned`` and the strategy is told their last value as partial.
        objectives: several objectives, e.g. ``{"accuracy": "maximize", "latency_ms": "minimize"}``:
            the strategy searches for their Pareto front (:meth:`pareto`, :meth:`hypervolume`); each
            names a key of the trials' metrics or a hardware figure (``params``, ``flops``,
            ``activation_bytes``, ``latency_ms``) that the driver adds itself. A single number
            returned by the evaluator is recorded under the first objective's name, which also
            ranks :meth:`best`. Names are checked here, before any trial trains (``latency`` is
            refused: did you mean ``latency_ms``?). See :mod:`archspace.experiment.scoring`.
        constraints: hardware limits checked before a sample is trained (``["latency_ms <= 5",
            "params <= 1e6"]``): the strategy's proposals that break one are never run.
        latency_table: the :class:`~archspace.hardware.LatencyTable` (or its JSON path) that
            ``latency_ms`` comes from; it must have been measured for this space and input shape.
        input_shape: the input (batch first) at which hardware figures are counted; default the
            shape of the space's ``example_input(1)``.
        latency_threads: the intra-op threads the deployed model runs with; the latency table
            must have been measured with as many (refused otherwise, whether the table is given as
            an object or a path). Default: trust the table's own setting.
        keep_weights: which trials keep their trained weights (``model.pt``, a state dict) in their
            folder ``<directory>/trials/<id>/``, for ``archspace export DIR --onnx`` to deploy:
            None (default: none), ``"best"`` (the best trial), an int k (the best k; a trial that
            falls out of them loses its file as the run goes on) or ``"all"``. Multi-trial only.
        trial_processes: run each trial as this many processes (ranks), started the way ``torchrun``
            starts them (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ... set; a ``torch.distributed``
            process group set up before the evaluator runs: NCCL on GPUs, gloo on CPU), for a model
            that trains data-parallel (DDP, Lightning's ``strategy="ddp"``). Every rank gets the
            same sample (rank 0 receives it and broadcasts it), the metric and the reports are
            rank 0's, a rank that crashes fails the trial and no rank outlives it. Needs the
            ``"process"`` or ``"ray"`` executor (with Ray, ``resources_per_trial`` is what the
            whole trial asks for: one CPU per rank unless given). Multi-trial only; see
            :mod:`archspace.experiment.executors._ranks`.
        proxy: a zero-cost proxy warm start (:mod:`archspace.proxies`; a name such as
            ``"synflow"``, or several names combined by mean rank): before the first trial,
            ``proxy_pool`` random candidates are scored untrained and the ``proxy_top`` best are
            the first trials (default: the strategy's ``population_size``, else 10). Data-reading
            proxies need ``proxy_batch=(inputs, targets)``; params, flops and synflow need only
            the input shape. Runs once, never again on resume. See
            :mod:`archspace.experiment.proxy_start`.
    """

    def __init__(self, space: ModelSpace, evaluator: Evaluator, strategy: Strategy | OneShotTrainer, *,
                 max_trials: int | None = None, max_duration: float | None = None, concurrency: int = 1,
                 executor: str | Executor = "process", directory: str | os.PathLike[str] | None = None,
                 seed: int = 0, direction: str | None = None, trial_timeout: float | None = None,
                 progress: bool | None = None, threads: int | None = None,
                 scheduler: Scheduler | None = None, objectives: ObjectivesSpec | None = None,
                 constraints: ConstraintsSpec = None, latency_table: Any = None,
                 input_shape: tuple[int, ...] | list[int] | None = None,
                 latency_threads: int | None = None, keep_weights: KeepWeights | str = None,
                 trial_processes: int = 1, proxy: str | Sequence[str] | None = None, proxy_pool: int | None = None,
                 proxy_top: int | None = None, proxy_batch: Any = None) -> None:
        for name, value, kind in (("space", space, ModelSpace), ("evaluator", evaluator, Evaluator)):
            if not isinstance(value, kind):
                raise InvalidSettingError(f"{name} must be an archspace {kind.__name__}, got {type(value).__name__}")
        if not isinstance(strategy, (Strategy, OneShotTrainer)):
            raise InvalidSettingError(f"strategy must be an archspace Strategy or a one-shot algorithm "
                                      f"(OneShotTrainer, e.g. DARTS), got {type(strategy).__name__}")
        if isinstance(strategy, OneShotTrainer):
            check_oneshot_settings(strategy, evaluator, max_trials=max_trials, concurrency=concurrency,
                                   max_duration=max_duration, scheduler=scheduler, objectives=objectives,
                                   constraints=constraints)
        try:
            keep = check_keep_weights(keep_weights)
        except ValueError as exc:
            raise InvalidSettingError(str(exc)) from None
        if keep is not None and isinstance(strategy, OneShotTrainer):
            raise InvalidSettingError("keep_weights applies to multi-trial searches: a one-shot search keeps its "
                                      "supernet in its checkpoint; retrain the exported sample with evaluator.fit")
        check_int("threads", threads)
        try:
            check_trial_processes(trial_processes)
        except ValueError as exc:
            raise InvalidSettingError(str(exc)) from None
        if trial_processes > 1:
            if isinstance(strategy, OneShotTrainer):
                raise InvalidSettingError(f"trial_processes={trial_processes} applies to multi-trial searches; a "
                                          "one-shot search trains on several processes when started under torchrun")
            ranks_ok = (executor.supports_trial_processes if isinstance(executor, Executor)
                        else executor in ("process", "ray"))
            if not ranks_ok:
                raise InvalidSettingError(f"trial_processes={trial_processes} needs an executor that starts each "
                                          f"trial's ranks: 'process' or 'ray', got {executor!r}")
        check_int("max_trials", max_trials)
        check_seconds("max_duration", max_duration)
        check_int("concurrency", concurrency, optional=False)
        check_int("seed", seed, minimum=0, optional=False)
        check_seconds("trial_timeout", trial_timeout)
        if not (isinstance(executor, Executor) or executor in EXECUTORS):
            raise InvalidSettingError(f"unknown executor {executor!r}; known executors: {sorted(EXECUTORS)} "
                                      "(or pass an Executor instance)")
        explicit_direction = direction
        direction = direction or str(getattr(evaluator, "direction", "maximize"))
        if direction not in DIRECTIONS:
            raise InvalidSettingError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
        try:
            self._scoring = Scoring(space, direction, objectives=objectives, constraints=constraints,
                                    latency_table=latency_table, input_shape=input_shape,
                                    latency_threads=latency_threads)
        except ScoringError as exc:
            raise InvalidSettingError(str(exc)) from None
        if self._scoring.objectives is not None:
            if explicit_direction is not None and explicit_direction != self._scoring.direction:
                raise InvalidSettingError(f"direction={explicit_direction!r} contradicts the first objective "
                                          f"{self._scoring.objectives[0]}; leave direction out")
            direction = self._scoring.direction
        if self._scoring.multi_objective and isinstance(strategy, Strategy) and not strategy.supports_multi_objective:
            raise InvalidSettingError(f"{type(strategy).__name__} optimises a single metric; for several objectives "
                                      f"use a strategy that searches for a Pareto front ({', '.join(pareto_strategies())})")
        if self._scoring.multi_objective and scheduler is not None:
            raise InvalidSettingError("a scheduler stops trials on one reported metric; it cannot be combined with "
                                      "several objectives")
        if scheduler is not None and not isinstance(scheduler, Scheduler):
            raise InvalidSettingError(f"scheduler must be an archspace Scheduler (ASHA, Hyperband, MedianStopping) "
                                      f"or None, got {type(scheduler).__name__}")
        try:  # now, not after every trial has trained and then failed for want of an objective
            self._scoring.check_names(declared_metrics(evaluator))
        except ScoringError as exc:
            raise InvalidSettingError(str(exc)) from None
        if progress is not None and not isinstance(progress, bool):
            raise InvalidSettingError(f"progress must be true, false or None, got {progress!r}")
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise InvalidSettingError(f"directory must be a path or None, got {directory!r}")
        self.space = space
        self.evaluator = evaluator
        self.strategy = strategy
        self.max_trials = max_trials
        self.max_duration = max_duration
        self.concurrency = concurrency
        self.executor = executor
        self.directory = Path(directory) if directory is not None else None
        self.seed = seed
        self.direction: str = direction
        self.trial_timeout = trial_timeout
        self.progress = progress
        self.threads = threads
        self.scheduler = scheduler
        self.keep_weights: KeepWeights = keep
        self.trial_processes = trial_processes
        self.proxy_start = check_proxy_start(space, strategy, proxy=proxy, proxy_pool=proxy_pool, proxy_top=proxy_top,
                                             proxy_batch=proxy_batch, input_shape=input_shape,
                                             oneshot=isinstance(strategy, OneShotTrainer))
        #: The file that defines this experiment (set by the command line that loaded it), which
        #: worker processes import and ``archspace resume`` finds again; None for Python code.
        self.source: RunSource | None = None
        self._storage: Storage | None = None
        self._enqueued: list[Sample] = []
        self._signals = DriverSignals()

    # Public API ----------------------------------------------------------------------------------
    def run(self) -> list[TrialRecord]:
        """Run a new experiment to its budget; returns all trials."""
        return self._run(resume=False)

    def resume(self) -> list[TrialRecord]:
        """Continue a stopped or crashed experiment from its directory."""
        return self._run(resume=True)

    def enqueue(self, sample: Sample) -> None:
        """Try ``sample`` before the strategy's own proposals (validated now)."""
        if self.oneshot:
            raise ExperimentError("enqueue() is for multi-trial strategies: a one-shot search trains one supernet")
        valid = self.space.validate(sample)
        if self._scoring.filter is not None:
            broken = self._scoring.filter.violations(valid)
            if broken:
                raise ExperimentError(f"the enqueued sample breaks the experiment's constraints: {'; '.join(broken)}")
        self._enqueued.append(valid)

    def pareto(self) -> list[TrialRecord]:
        """The succeeded trials that no other succeeded trial beats on every objective, by id.

        With a single objective (or none declared) it is the best trial(s): those tied at the best metric.
        """
        done = [t for t in self.storage.trials(TrialStatus.SUCCEEDED) if t.metric is not None]
        if self._scoring.objectives is None:
            top = rank(done, self.direction)
            return sorted([t for t in top if t.metric == top[0].metric], key=lambda t: t.id) if top else []
        kept = [(t, p) for t in done if (p := self._scoring.point(t.metrics)) is not None]
        front = pareto_indices([p for _, p in kept], self._scoring.objectives)
        return [kept[i][0] for i in front]

    def hypervolume(self, reference: Any) -> float:
        """The hypervolume of the succeeded trials' objective values against ``reference`` (one worst
        acceptable value per objective, in the objectives' order and units)."""
        if self._scoring.objectives is None:
            raise ExperimentError("hypervolume needs declared objectives: Experiment(..., objectives={...})")
        points = [p for t in self.storage.trials(TrialStatus.SUCCEEDED) if (p := self._scoring.point(t.metrics))]
        return hypervolume(points, self._scoring.objectives, list(reference))

    @property
    def oneshot(self) -> bool:
        """Whether the strategy is a one-shot algorithm (one supernet, no trials to run)."""
        return isinstance(self.strategy, OneShotTrainer)

    def epochs(self) -> list[dict[str, Any]]:
        """A one-shot search's recorded epochs, in order: losses, ``val_metric`` (the supernet's
        validation metric), the exported ``sample`` and each decision's ``distribution``."""
        return self.storage.epochs()

    def trials(self) -> list[TrialRecord]:
        """Every trial recorded so far, by id."""
        return self.storage.trials()

    def best(self, k: int = 1) -> list[TrialRecord]:
        """The ``k`` best succeeded trials, best first."""
        check_int("k", k, optional=False)
        return rank(self.storage.trials(TrialStatus.SUCCEEDED), self.direction)[:k]

    def export(self, path: str | os.PathLike[str], k: int = 1) -> Path:
        """Write the best sample (loadable by ``fixed_arch``) and the top ``k`` with their metrics."""
        top = self.best(k)
        if not top:
            raise ExperimentError("no trial has succeeded yet: nothing to export")
        return write_export(Path(path), top, self.direction)

    @property
    def storage(self) -> Storage:
        """The experiment's store (opened on first use)."""
        if self._storage is None:
            self._storage = open_storage(self.directory)
        return self._storage

    # Running ---------------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "space": f"{type(self.space).__module__}.{type(self.space).__qualname__}",
            "space_fingerprint": space_fingerprint(self.space),
            "space_ref": SpaceRef.of(self.space).to_json(),  # rebuilds the space for export when no file does
            "strategy": type(self.strategy).__name__,
            "kind": "oneshot" if self.oneshot else "multi-trial",
            "evaluator": type(self.evaluator).__name__,
            "direction": self.direction,
            "seed": self.seed,
            "max_trials": self.max_trials,
            "keep_weights": self.keep_weights,
            "source": None if self.source is None else self.source.to_json(),
            "scheduler": self.scheduler.config() if self.scheduler is not None else None,
            **({"epochs": self.strategy.planned_epochs(self.space)} if isinstance(self.strategy, OneShotTrainer) else {}),
            **self._scoring.config(),
        }

    def _make_run(self) -> MultiTrialRun | OneShotRun:
        if isinstance(self.strategy, OneShotTrainer):
            return OneShotRun(self.strategy)
        executor = self.executor if isinstance(self.executor, Executor) else \
            EXECUTORS[self.executor](self.concurrency, self.trial_timeout)
        if self.keep_weights is not None and self.directory is None:
            raise InvalidSettingError("keep_weights keeps trained weights in the trials' folders: give the "
                                      "experiment a directory, or leave keep_weights=None")
        return MultiTrialRun(self.strategy, executor, scheduler=self.scheduler, max_trials=self.max_trials,
                             max_duration=self.max_duration, enqueued=self._enqueued, keep_weights=self.keep_weights,
                             trial_processes=self.trial_processes, proxy_start=self.proxy_start)

    def _context(self, storage: Storage) -> RunContext:
        return RunContext(space=self.space, evaluator=self.evaluator, storage=storage, signals=self._signals,
                          directory=self.directory, direction=self.direction, scoring=self._scoring,
                          source=self.source, seed=self.seed, progress=self.progress, threads=self.threads)

    def _run(self, resume: bool) -> list[TrialRecord]:
        driver = Driver(self.directory, lambda: self.storage, self._signals)
        return driver.drive(self._make_run(), self._context, self._config(), resume)

    def __repr__(self) -> str:
        return (f"Experiment(space={type(self.space).__name__}, strategy={self.strategy!r}, "
                f"max_trials={self.max_trials}, directory={str(self.directory) if self.directory else None!r})")


__all__ = ["EXECUTORS", "Experiment", "ExperimentError", "InvalidSettingError", "Terminated", "rank", "write_export"]
