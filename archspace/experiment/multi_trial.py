"""The multi-trial run: ask, record, run, record, tell — with resume.

Order of writes (each a committed SQLite transaction): a new trial is stored together with the
strategy state after the ask that made it; a finished trial is stored before the strategy hears
of it; the strategy state is checkpointed again after the tell, with the ids it has been told. So
after a crash ``resume()`` restores the strategy, tells it any finished trial it missed, re-runs
the trials that were in flight under their own ids, and carries on to the budget.

The experiment's hardware constraints reach the strategy as its run's filter
(:meth:`~archspace.strategy.Strategy.setup`), and a scheduler's verdict reaches the executor as
its ``judge`` (:meth:`~archspace.experiment.executors.base.Executor.start`): nothing is swapped
on either object while the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from archspace.errors import SampleError
from archspace.experiment._signals import Terminated
from archspace.experiment.driver import RunContext
from archspace.experiment.errors import ExperimentError
from archspace.experiment.executors.base import Executor
from archspace.experiment.progress import Progress
from archspace.experiment.proxy_start import ProxyStart
from archspace.experiment.results import rank
from archspace.experiment.runner import Finished, KeepWeights, Reported, Started, drop_weights
from archspace.experiment.scoring import ScoringError
from archspace.schedule.base import Scheduler
from archspace.space.samples import Sample, fingerprint
from archspace.storage import Storage, StorageError, TrialRecord, TrialStatus, safe_text
from archspace.strategy.base import Strategy

logger = logging.getLogger("archspace.experiment")


class MultiTrialRun:
    """One run (or resume) of a multi-trial search; built by ``Experiment``, run by the driver.

    Args:
        strategy: proposes the samples.
        executor: runs the trials.
        scheduler: stops poor trials early (None: never).
        max_trials: the budget of trials (failed ones count); None: until the strategy is done.
        max_duration: seconds, after which running trials are marked interrupted.
        enqueued: samples to try first (validated already); the list is emptied once they are stored
            as trials.
        keep_weights: which succeeded trials keep their trained weights: None, an int k (the best
            k: the driver deletes the file of a trial that falls out of them) or ``"all"``.
        trial_processes: ranks each trial runs as (see :mod:`archspace.experiment.executors._ranks`).
        proxy_start: a zero-cost proxy warm start: its best-scored candidates are the first trials
            of a fresh run, after the enqueued ones (see :mod:`archspace.experiment.proxy_start`).
    """

    resumable_settings: tuple[str, ...] = ("max_trials", "keep_weights")

    def __init__(self, strategy: Strategy, executor: Executor, *, scheduler: Scheduler | None = None,
                 max_trials: int | None = None, max_duration: float | None = None,
                 enqueued: list[Sample] | None = None, keep_weights: KeepWeights = None,
                 trial_processes: int = 1, proxy_start: ProxyStart | None = None) -> None:
        self.strategy = strategy
        self.executor = executor
        self.scheduler = scheduler
        self.max_trials = max_trials
        self.max_duration = max_duration
        self.enqueued = enqueued if enqueued is not None else []
        self.keep_weights = keep_weights
        self.trial_processes = trial_processes
        self.proxy_start = proxy_start
        self._kept: set[int] = set()  # trials whose weights are kept now (best k)

    def run(self, context: RunContext, resume: bool) -> list[TrialRecord]:
        """Run the loop to the budget (see the module docstring)."""
        self.ctx = context
        if self.max_trials is None and self.max_duration is None:
            logger.info("no max_trials or max_duration: running until the strategy is exhausted")
        storage = context.storage
        warm: list[Sample] = []
        if self.proxy_start is not None and not storage.trials():  # fresh (or killed while scoring): once
            warm = self.proxy_start.samples(context.space, context.seed, context.scoring.filter)
        with context.signals.critical():
            pending = self._restore_strategy(storage)
            pending.extend((storage.create_trial(s, None), s) for s in [*self.enqueued, *warm])
        self.enqueued.clear()
        executor = self.executor
        judge = None
        if self.scheduler is not None:  # its state: replayed from the recorded curves (exact, see schedule.base)
            self.scheduler.setup(context.direction)
            self.scheduler.replay(storage.trials())
            judge = self.scheduler.on_report
        constraint_filter = context.scoring.filter
        start = time.monotonic()
        recorded = storage.trials()
        total = len(recorded)
        progress = Progress(self.max_trials, context.direction, enabled=context.progress,
                            initial=[t for t in recorded if t.finished])
        exhausted = False
        try:
            self._prune_weights(storage, {t.id for t in recorded})  # a resume with a smaller k, or a crash mid-prune
            executor.start(context.space, context.evaluator, context.source, context.directory, judge=judge,
                           keep_weights=self.keep_weights is not None, trial_processes=self.trial_processes)
            while True:
                out_of_time = self.max_duration is not None and time.monotonic() - start >= self.max_duration
                if out_of_time:
                    self._interrupt(storage, "max_duration reached")
                    break
                while executor.free_slots() > 0 and (pending or not exhausted):
                    if pending:
                        trial_id, sample = pending.popleft()
                    else:
                        if self.max_trials is not None and total >= self.max_trials:
                            exhausted = True
                            break
                        with context.signals.critical():
                            asked = self.strategy.ask()
                            if asked is None:
                                exhausted = True
                                logger.info("the strategy has no more samples to propose")
                                break
                            sample = self._check_sample(asked)
                            trial_id = storage.create_trial(sample, self.strategy.state_dict(with_seen=False))
                        total += 1
                    executor.submit(trial_id, sample)
                if not executor.running():
                    break
                wait = 0.5 if self.max_duration is None else min(0.5, max(0.0, start + self.max_duration - time.monotonic()))
                for event in executor.poll(wait):
                    with context.signals.critical():
                        self._handle(event, storage, progress)
        except KeyboardInterrupt as exc:
            why = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted by the user (Ctrl-C)"
            self._interrupt(storage, why)
            progress.close()
            raise
        finally:
            executor.shutdown()  # never leave workers behind, whatever went wrong
            progress.close()
            if constraint_filter is not None and any(constraint_filter.rejected.values()):
                logger.info("samples rejected before training by the constraints: %s", constraint_filter.rejected)
        trials = storage.trials()
        counts = {s.value: sum(t.status is s for t in trials) for s in TrialStatus if s is not TrialStatus.QUEUED}
        best = rank(trials, context.direction)[:1]
        logger.info("experiment finished: %d trials %s; best %s", len(trials), counts,
                    f"trial {best[0].id} metric {best[0].metric:.4f}" if best else "none")
        return trials

    def _restore_strategy(self, storage: Storage) -> deque[tuple[int, Sample]]:
        ctx = self.ctx
        # broken constraints are never trained: the run's filter says no before the sample is proposed
        self.strategy.setup(ctx.space.search_space(), ctx.seed, ctx.scoring.strategy_direction(),
                            constraint=ctx.scoring.filter)
        state, told_list = storage.load_strategy()
        told = set(told_list)
        if state is not None:  # checkpoints leave out the proposed samples: the trials hold them
            self.strategy.load_state_dict(state, seen=[fingerprint(t.sample) for t in storage.trials()])
        caught_up = []
        for trial in storage.trials():
            if trial.finished and trial.id not in told:  # finished after the last checkpoint
                self._tell(trial.sample, trial.status, trial.metric, trial.metrics)
                caught_up.append(trial.id)
        storage.save_strategy(self.strategy.state_dict(with_seen=False), caught_up)  # the catch-up tells are durable
        requeued = storage.requeue_unfinished()
        pending = deque((trial_id, storage.trial(trial_id).sample) for trial_id in requeued)
        if requeued:
            logger.info("resuming: %d interrupted trial(s) queued again: %s", len(requeued), requeued)
        return pending

    def _check_sample(self, sample: Sample) -> Sample:
        try:
            valid = self.ctx.space.validate(sample)
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
            self._finish(event, storage, progress)

    def _finish(self, event: Finished, storage: Storage, progress: Progress) -> None:
        if event.error is not None:  # user text: undecodable file names, NUL bytes, megabytes of it
            event.error = safe_text(event.error)
        if event.status is TrialStatus.SUCCEEDED:
            try:  # hardware figures and objectives, computed in the driver before the result is stored
                event.metric, event.metrics = self.ctx.scoring.complete(storage.trial(event.trial_id).sample,
                                                                        event.metric, event.metrics)
            except ScoringError as exc:
                event.status, event.error = TrialStatus.FAILED, str(exc)
        storage.finish_trial(event.trial_id, event.status, event.metric, event.metrics, event.error)
        if event.status is TrialStatus.SUCCEEDED:
            logger.info("trial %d succeeded: metric %.4f", event.trial_id, event.metric)
        elif event.status is TrialStatus.PRUNED:
            logger.info("trial %d pruned by the scheduler: last reported value %s", event.trial_id, event.metric)
        else:
            # one line, as it happens: on the console too (progress.ConsoleWarnings), not only in the log
            first_line = ((event.error or "").strip().splitlines() or ["no reason given"])[0][:300]
            logger.warning("trial %d %s: %s", event.trial_id, event.status.value, first_line)
        if self.scheduler is not None:
            self.scheduler.on_finish(event.trial_id, event.status)
        self._prune_weights(storage, self._kept | {event.trial_id})  # after the result is stored
        self._tell(storage.trial(event.trial_id).sample, event.status, event.metric, event.metrics)
        storage.save_strategy(self.strategy.state_dict(with_seen=False), [event.trial_id])
        progress.finished(event.trial_id, event.status, event.metric)

    def _prune_weights(self, storage: Storage, candidates: set[int]) -> None:
        """With ``keep_weights=k``, delete the weights of the ``candidates`` not among the best k
        succeeded trials (ranked as ``best()`` and ``archspace export`` rank them)."""
        if not isinstance(self.keep_weights, int) or self.ctx.directory is None:
            return
        best = rank(storage.trials(TrialStatus.SUCCEEDED), self.ctx.direction)[: self.keep_weights]
        self._kept = {t.id for t in best}
        drop_weights(self.ctx.directory, sorted(candidates - self._kept))

    def _tell(self, sample: Sample, status: TrialStatus, metric: float | None,
              metrics: dict[str, Any] | None = None) -> None:
        """Tell the strategy a finished trial: its metric (one value per objective in a multi-objective
        run), a pruned trial's last value as partial, or None."""
        if status is TrialStatus.PRUNED:
            self.strategy.tell(sample, metric, partial=True)
        elif status is TrialStatus.SUCCEEDED:
            self.strategy.tell(sample, self.ctx.scoring.result(metric, metrics))
        else:
            self.strategy.tell(sample, None)

    def _interrupt(self, storage: Storage, why: str) -> None:
        running = self.executor.running()
        self.executor.shutdown()
        try:
            storage.mark_interrupted(running)
            storage.save_strategy(self.strategy.state_dict(with_seen=False), [])
        except StorageError as exc:  # e.g. the disk is full: what was recorded stays recorded
            logger.error("%s, and the store could not be updated: %s", why, exc)
            return
        logger.warning("%s: %d running trial(s) marked interrupted %s", why, len(running), running)


__all__ = ["MultiTrialRun"]
