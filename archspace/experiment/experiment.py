"""Experiment: the multi-trial loop — ask, record, run, record, tell — with resume.

A one-shot strategy (a :class:`~archspace.oneshot.OneShotTrainer` such as ``DARTS``) trains one
supernet instead of running trials: the experiment then delegates its run to
:mod:`archspace.experiment.oneshot_run`, under the same directory lock, signal handling and store.

Order of writes (each a committed SQLite transaction): a new trial is stored together with the
strategy state after the ask that made it; a finished trial is stored before the strategy hears
of it; the strategy state is checkpointed again after the tell, with the ids it has been told. So
after a crash ``resume()`` restores the strategy, tells it any finished trial it missed, re-runs
the trials that were in flight under their own ids, and carries on to the budget.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from numbers import Real
from pathlib import Path
from typing import Any

from archspace.errors import ArchspaceError, SampleError
from archspace.evaluate.base import Evaluator
from archspace.evaluate.training import SupervisedEvaluator
from archspace.experiment._signals import DriverSignals, Terminated
from archspace.experiment.executor import Executor, InlineExecutor
from archspace.experiment.lock import DirectoryLock
from archspace.experiment.oneshot_run import OneShotRun
from archspace.experiment.process import ProcessExecutor
from archspace.experiment.progress import Progress
from archspace.experiment.runner import Finished, Reported, Started
from archspace.experiment.scoring import ConstraintsSpec, Scoring, ScoringError
from archspace.nn.space import ModelSpace
from archspace.objectives import ObjectivesSpec, hypervolume, pareto_indices
from archspace.oneshot import SPOS, OneShotTrainer
from archspace.registry import Registry
from archspace.schedule.base import Scheduler
from archspace.space.samples import Sample, canonical_json, fingerprint
from archspace.storage import SQLiteStorage, Storage, StorageError, TrialRecord, TrialStatus, safe_text
from archspace.strategy.base import Strategy

logger = logging.getLogger("archspace.experiment")


def ray_executor(concurrency: int = 1, trial_timeout: float | None = None, **options: Any) -> Executor:
    """``executor="ray"``: a :class:`~archspace.experiment.ray_executor.RayExecutor` (imports Ray only now).

    Options as the class takes them (``ray_address``, ``resources_per_trial``, ``max_retries``, ...).
    """
    from archspace.experiment.ray_executor import RayExecutor

    return RayExecutor(concurrency, trial_timeout, **options)


EXECUTORS: Registry[Executor] = Registry("executor", entries={"inline": InlineExecutor, "process": ProcessExecutor,
                                                              "ray": ray_executor})
DIRECTIONS = ("maximize", "minimize")


class ExperimentError(ArchspaceError, RuntimeError):
    """The experiment cannot run as configured."""


class InvalidSettingError(ExperimentError, ValueError):
    """An experiment setting has the wrong type or value (the message names it and what is allowed)."""


def _check_int(name: str, value: Any, *, minimum: int = 1, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = f"an int >= {minimum}" + (" or None" if optional else "")
        raise InvalidSettingError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")


def _check_seconds(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, Real) or not float(value) > 0:
        raise InvalidSettingError(f"{name} must be a positive number of seconds or None, "
                                  f"got {value!r} ({type(value).__name__})")


def _check_oneshot(strategy: OneShotTrainer, evaluator: Evaluator, max_trials: Any, concurrency: Any,
                   max_duration: Any) -> None:
    """Refuse settings a one-shot search cannot honour, when the experiment is built."""
    name = type(strategy).__name__
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
        progress: show a progress bar (default: when stderr is a terminal).
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
            ranks :meth:`best`. See :mod:`archspace.experiment.scoring`.
        constraints: hardware limits checked before a sample is trained (``["latency_ms <= 5",
            "params <= 1e6"]``): the strategy's proposals that break one are never run.
        latency_table: the :class:`~archspace.hardware.LatencyTable` (or its JSON path) that
            ``latency_ms`` comes from; it must have been measured for this space and input shape.
        input_shape: the input (batch first) at which hardware figures are counted; default the
            shape of the space's ``example_input(1)``.
        latency_threads: the intra-op threads the deployed model runs with; the latency table
            must have been measured with as many (refused otherwise, whether the table is given as
            an object or a path). Default: trust the table's own setting.
    """

    def __init__(self, space: ModelSpace, evaluator: Evaluator, strategy: Strategy | OneShotTrainer, *,
                 max_trials: int | None = None, max_duration: float | None = None, concurrency: int = 1,
                 executor: str | Executor = "process", directory: str | os.PathLike[str] | None = None,
                 seed: int = 0, direction: str | None = None, trial_timeout: float | None = None,
                 progress: bool | None = None, threads: int | None = None,
                 scheduler: Scheduler | None = None, objectives: ObjectivesSpec | None = None,
                 constraints: ConstraintsSpec = None, latency_table: Any = None,
                 input_shape: tuple[int, ...] | list[int] | None = None,
                 latency_threads: int | None = None) -> None:
        for name, value, kind in (("space", space, ModelSpace), ("evaluator", evaluator, Evaluator)):
            if not isinstance(value, kind):
                raise InvalidSettingError(f"{name} must be an archspace {kind.__name__}, got {type(value).__name__}")
        if not isinstance(strategy, (Strategy, OneShotTrainer)):
            raise InvalidSettingError(f"strategy must be an archspace Strategy or a one-shot algorithm "
                                      f"(OneShotTrainer, e.g. DARTS), got {type(strategy).__name__}")
        if isinstance(strategy, OneShotTrainer):
            _check_oneshot(strategy, evaluator, max_trials, concurrency, max_duration)
        _check_int("threads", threads)
        _check_int("max_trials", max_trials)
        _check_seconds("max_duration", max_duration)
        _check_int("concurrency", concurrency, optional=False)
        _check_int("seed", seed, minimum=0, optional=False)
        _check_seconds("trial_timeout", trial_timeout)
        if not (isinstance(executor, Executor) or executor in EXECUTORS):
            raise InvalidSettingError(f"unknown executor {executor!r}; known executors: {sorted(EXECUTORS)} "
                                      "(or pass an Executor instance)")
        explicit_direction = direction
        direction = direction or str(getattr(evaluator, "direction", "maximize"))
        if direction not in DIRECTIONS:
            raise InvalidSettingError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
        searches_candidates = isinstance(strategy, SPOS) and strategy.evolution is not None
        if isinstance(strategy, OneShotTrainer) and (objectives is not None or
                                                     (constraints is not None and not searches_candidates)):
            raise InvalidSettingError(f"objectives and constraints are for multi-trial searches; a one-shot search "
                                      f"({type(strategy).__name__}) takes hardware costs as a loss term (e.g. "
                                      "GumbelDARTS(latency=LatencyLoss(table, ...))); SPOS's evolutionary search "
                                      "takes constraints")
        if constraints is not None and isinstance(strategy, SPOS) and strategy.evolution is not None \
                and strategy.evolution.constraint is not None:
            raise InvalidSettingError("constraints are given twice: to the Experiment and to SPOS's evolution; "
                                      "give them once")
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
                                      "use a strategy that searches for a Pareto front (random, grid, evolution, tpe)")
        if self._scoring.multi_objective and scheduler is not None:
            raise InvalidSettingError("a scheduler stops trials on one reported metric; it cannot be combined with "
                                      "several objectives")
        if scheduler is not None and not isinstance(scheduler, Scheduler):
            raise InvalidSettingError(f"scheduler must be an archspace Scheduler (ASHA, Hyperband, MedianStopping) "
                                      f"or None, got {type(scheduler).__name__}")
        if scheduler is not None and isinstance(strategy, OneShotTrainer):
            raise InvalidSettingError(f"a scheduler stops trials early, but a one-shot search "
                                      f"({type(strategy).__name__}) runs no trials; leave scheduler out")
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
        self.source: dict[str, str] | None = None  # set by the CLI: the file that defines this experiment
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
    def _trials_strategy(self) -> Strategy:
        """The strategy of a multi-trial run (the one-shot path never asks for it)."""
        assert isinstance(self.strategy, Strategy), "the multi-trial loop needs a Strategy"
        return self.strategy

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
        _check_int("k", k, optional=False)
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
            path = ":memory:" if self.directory is None else self.directory / "experiment.db"
            self._storage = SQLiteStorage(path)
        return self._storage

    # The loop ------------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        space = self.space.search_space()
        return {
            "space": f"{type(self.space).__module__}.{type(self.space).__qualname__}",
            "space_fingerprint": fingerprint({label: [canonical_json({"v": v}) for v in d.values]
                                              for label, d in space.items()}),
            "strategy": type(self.strategy).__name__,
            "kind": "oneshot" if self.oneshot else "multi-trial",
            "evaluator": type(self.evaluator).__name__,
            "direction": self.direction,
            "seed": self.seed,
            "max_trials": self.max_trials,
            "source": self.source,
            "scheduler": self.scheduler.config() if self.scheduler is not None else None,
            **({"epochs": self.strategy.epochs} if isinstance(self.strategy, OneShotTrainer) else {}),
            **self._scoring.config(),
        }

    def _check_config(self, resume: bool) -> None:
        ours = self._config()
        stored = self.storage.get_config()
        where = str(self.directory) if self.directory else "memory"
        if stored is None:
            if resume:
                raise ExperimentError(f"nothing to resume in {where}: it holds no experiment")
            self.storage.set_config({**ours, "created": time.time()})
            return
        identity = ("space", "space_fingerprint", "strategy", "direction", "seed", "scheduler", "objectives")
        diffs = [f"{key}: stored {stored.get(key)!r}, now {ours[key]!r}" for key in identity if stored.get(key) != ours[key]]
        if diffs:
            raise StorageError(f"{where} holds another experiment ({'; '.join(diffs)}); use another directory")
        recorded = self.storage.trials()
        if not resume and recorded:
            raise ExperimentError(f"{where} already holds this experiment's trials; call resume() to continue it")
        if self.storage.bad_rows:
            bad = ", ".join(f"trial {b.id}: {b.reason}" for b in self.storage.bad_rows[:5])
            raise StorageError(f"cannot resume {where}: {len(self.storage.bad_rows)} stored trial(s) cannot be read "
                               f"({bad}); `archspace doctor {where}` reports what is intact")
        self.storage.set_config({**stored, "max_trials": self.max_trials, "source": self.source or stored.get("source"),
                                 **({"epochs": ours["epochs"]} if "epochs" in ours else {})})

    def _make_executor(self) -> Executor:
        if isinstance(self.executor, Executor):
            return self.executor
        return EXECUTORS[self.executor](self.concurrency, self.trial_timeout)

    def _run(self, resume: bool) -> list[TrialRecord]:
        if self.max_trials is None and self.max_duration is None and not self.oneshot:
            logger.info("no max_trials or max_duration: running until the strategy is exhausted")
        lock = self._prepare_directory()
        package_logger = logging.getLogger("archspace")
        level = package_logger.level
        log_handler = self._open_log()
        self._signals.install()
        try:
            with self._signals.critical():
                self._check_config(resume)
            if self.oneshot:
                return OneShotRun(self, self.storage).run(resume)
            return self._loop(resume)
        finally:
            if self._storage is not None:
                self._storage.flush()  # the database file alone now holds the whole experiment
            self._signals.restore()
            if log_handler is not None:
                package_logger.removeHandler(log_handler)
                package_logger.setLevel(level)
                log_handler.close()
            if lock is not None:
                lock.release()

    def _prepare_directory(self) -> DirectoryLock | None:
        """Create the directory and take its driver lock (before the store is opened)."""
        if self.directory is None:
            return None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = DirectoryLock(self.directory)
            lock.acquire()
        except OSError as exc:
            raise ExperimentError(f"cannot use {str(self.directory)!r} as the experiment directory: "
                                  f"{exc.strerror or exc}; choose a writable directory") from None
        return lock

    def _open_log(self) -> logging.Handler | None:
        if self.directory is None:
            return None
        try:
            handler = logging.FileHandler(self.directory / "experiment.log")
        except OSError as exc:
            raise ExperimentError(f"cannot write the log in {str(self.directory)!r}: {exc.strerror or exc}") from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("archspace")
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        return handler

    def _restore_strategy(self, storage: Storage) -> deque[tuple[int, Sample]]:
        self._trials_strategy.setup(self.space.search_space(), self.seed, self._scoring.strategy_direction())
        state, told_list = storage.load_strategy()
        told = set(told_list)
        if state is not None:  # checkpoints leave out the proposed samples: the trials hold them
            self._trials_strategy.load_state_dict(state, seen=[fingerprint(t.sample) for t in storage.trials()])
        caught_up = []
        for trial in storage.trials():
            if trial.finished and trial.id not in told:  # finished after the last checkpoint
                self._tell(trial.sample, trial.status, trial.metric, trial.metrics)
                caught_up.append(trial.id)
        storage.save_strategy(self._trials_strategy.state_dict(with_seen=False), caught_up)  # the catch-up tells are durable
        requeued = storage.requeue_unfinished()
        pending = deque((trial_id, storage.trial(trial_id).sample) for trial_id in requeued)
        if requeued:
            logger.info("resuming: %d interrupted trial(s) queued again: %s", len(requeued), requeued)
        return pending

    def _loop(self, resume: bool) -> list[TrialRecord]:
        storage = self.storage
        with self._signals.critical():
            pending = self._restore_strategy(storage)
            pending.extend((storage.create_trial(s, None), s) for s in self._enqueued)
        self._enqueued = []
        executor = self._make_executor()
        user_filter = self._trials_strategy.filter
        constraint_filter = self._scoring.filter
        if constraint_filter is not None:  # broken constraints are never trained: the strategy's filter says no
            self._trials_strategy.filter = (constraint_filter if user_filter is None else
                                            lambda s: user_filter(s) and constraint_filter(s))
        if self.scheduler is not None:  # its state: replayed from the recorded curves (exact, see schedule.base)
            self.scheduler.setup(self.direction)
            self.scheduler.replay(storage.trials())
            executor.judge = self.scheduler.on_report
        start = time.monotonic()
        recorded = storage.trials()
        total = len(recorded)
        progress = Progress(self.max_trials, self.direction, enabled=self.progress,
                            initial=[t for t in recorded if t.finished])
        exhausted = False
        try:
            executor.start(self.space, self.evaluator, self.source, self.directory)
            while True:
                out_of_time = self.max_duration is not None and time.monotonic() - start >= self.max_duration
                if out_of_time:
                    self._interrupt(executor, storage, "max_duration reached")
                    break
                while executor.free_slots() > 0 and (pending or not exhausted):
                    if pending:
                        trial_id, sample = pending.popleft()
                    else:
                        if self.max_trials is not None and total >= self.max_trials:
                            exhausted = True
                            break
                        with self._signals.critical():
                            asked = self._trials_strategy.ask()
                            if asked is None:
                                exhausted = True
                                logger.info("the strategy has no more samples to propose")
                                break
                            sample = self._check_sample(asked)
                            trial_id = storage.create_trial(sample, self._trials_strategy.state_dict(with_seen=False))
                        total += 1
                    executor.submit(trial_id, sample)
                if not executor.running():
                    break
                wait = 0.5 if self.max_duration is None else min(0.5, max(0.0, start + self.max_duration - time.monotonic()))
                for event in executor.poll(wait):
                    with self._signals.critical():
                        self._handle(event, storage, progress)
        except KeyboardInterrupt as exc:
            why = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted by the user (Ctrl-C)"
            self._interrupt(executor, storage, why)
            progress.close()
            raise
        finally:
            executor.shutdown()  # never leave workers behind, whatever went wrong
            progress.close()
            self._trials_strategy.filter = user_filter
            if constraint_filter is not None and any(constraint_filter.rejected.values()):
                logger.info("samples rejected before training by the constraints: %s", constraint_filter.rejected)
        trials = storage.trials()
        counts = {s.value: sum(t.status is s for t in trials) for s in TrialStatus if s is not TrialStatus.QUEUED}
        best = self.best(1)
        logger.info("experiment finished: %d trials %s; best %s", len(trials), counts,
                    f"trial {best[0].id} metric {best[0].metric:.4f}" if best else "none")
        return trials

    def _check_sample(self, sample: Sample) -> Sample:
        try:
            valid = self.space.validate(sample)
        except SampleError as exc:
            raise ExperimentError(f"{type(self.strategy).__name__} proposed a sample outside the space: {exc}") from exc
        return valid

    def _handle(self, event: Any, storage: Storage, progress: Progress) -> None:
        if isinstance(event, Started):
            storage.start_trial(event.trial_id, event.worker)
            progress.started(event.trial_id)
        elif isinstance(event, Reported):
            try:
                storage.add_intermediate(event.trial_id, event.step, event.value)
            except ValueError as exc:  # the worker checks reports too: this one came past it
                logger.warning("trial %d: a report could not be recorded and was dropped: %s", event.trial_id, exc)
        elif isinstance(event, Finished):
            if event.error is not None:  # user text: undecodable file names, NUL bytes, megabytes of it
                event.error = safe_text(event.error)
            if event.status is TrialStatus.SUCCEEDED:
                try:  # hardware figures and objectives, computed in the driver before the result is stored
                    event.metric, event.metrics = self._scoring.complete(storage.trial(event.trial_id).sample,
                                                                         event.metric, event.metrics)
                except ScoringError as exc:
                    event.status, event.error = TrialStatus.FAILED, str(exc)
            storage.finish_trial(event.trial_id, event.status, event.metric, event.metrics, event.error)
            succeeded = event.status is TrialStatus.SUCCEEDED
            if succeeded:
                logger.info("trial %d succeeded: metric %.4f", event.trial_id, event.metric)
            elif event.status is TrialStatus.PRUNED:
                logger.info("trial %d pruned by the scheduler: last reported value %s", event.trial_id, event.metric)
            else:
                first_line = (event.error or "").splitlines()[0] if event.error else ""
                logger.warning("trial %d %s: %s", event.trial_id, event.status, first_line)
            if self.scheduler is not None:
                self.scheduler.on_finish(event.trial_id, event.status)
            self._tell(storage.trial(event.trial_id).sample, event.status, event.metric, event.metrics)
            storage.save_strategy(self._trials_strategy.state_dict(with_seen=False), [event.trial_id])
            progress.finished(event.trial_id, event.status, event.metric)

    def _tell(self, sample: Sample, status: TrialStatus, metric: float | None,
              metrics: dict[str, Any] | None = None) -> None:
        """Tell the strategy a finished trial: its metric (one value per objective in a multi-objective
        run), a pruned trial's last value as partial, or None."""
        if status is TrialStatus.PRUNED:
            self._trials_strategy.tell(sample, metric, partial=True)
        elif status is TrialStatus.SUCCEEDED:
            self._trials_strategy.tell(sample, self._scoring.result(metric, metrics))
        else:
            self._trials_strategy.tell(sample, None)

    def _interrupt(self, executor: Executor, storage: Storage, why: str) -> None:
        running = executor.running()
        executor.shutdown()
        try:
            storage.mark_interrupted(running)
            storage.save_strategy(self._trials_strategy.state_dict(with_seen=False), [])
        except StorageError as exc:  # e.g. the disk is full: what was recorded stays recorded
            logger.error("%s, and the store could not be updated: %s", why, exc)
            return
        logger.warning("%s: %d running trial(s) marked interrupted %s", why, len(running), running)

    def __repr__(self) -> str:
        return (f"Experiment(space={type(self.space).__name__}, strategy={self.strategy!r}, "
                f"max_trials={self.max_trials}, directory={str(self.directory) if self.directory else None!r})")


def rank(trials: list[TrialRecord], direction: str) -> list[TrialRecord]:
    """Succeeded trials with a metric, best first (ties: the earlier trial first)."""
    done = [t for t in trials if t.status is TrialStatus.SUCCEEDED and t.metric is not None]
    done.sort(key=lambda t: (t.metric if direction == "minimize" else -t.metric, t.id))  # type: ignore[operator]
    return done


def write_export(path: Path, top: list[TrialRecord], direction: str) -> Path:
    """Write an export file: the best sample under ``"sample"`` (so ``fixed_arch`` loads it)."""
    best = top[0]
    data = {
        "sample": best.sample, "metric": best.metric, "trial_id": best.id, "direction": direction,
        "top": [{"trial_id": t.id, "sample": t.sample, "metric": t.metric, "metrics": t.metrics} for t in top],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


__all__ = ["EXECUTORS", "Experiment", "ExperimentError", "InvalidSettingError", "Terminated", "rank", "write_export"]
