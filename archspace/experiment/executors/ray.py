"""The Ray executor: trials as Ray tasks, on a local Ray or on a cluster (``executor="ray"``).

The driver keeps what must stay in one place, the SQLite store and the strategy; Ray workers only
run trials. The space (packed as the process pool packs it, usually a small
:class:`~archspace.experiment.executors._worker.SpaceRecipe`) and the evaluator go into Ray's object store
once; each trial's task then carries only ``(trial_id, sample)`` and references, and a worker
process unpacks the payload on its first trial and keeps it for the next ones.

Trials talk back through a small actor (the *inbox*, no CPU of its own): "started" and every
``ctx.report`` arrive there while the trial runs, and wake the driver (it waits on the inbox's
"bell" together with its tasks), so curves are recorded live. When the driver runs a scheduler
(:attr:`Executor.judge` is set) each report waits in the inbox for the driver's verdict, as the
process pool's workers wait on their pipe: on "stop" that very ``ctx.report`` raises
:class:`~archspace.evaluate.base.TrialPruned` and the trial ends with one ``Finished(PRUNED,
metric=<last reported value>)``. A verdict costs a few round trips to the actor per report
(reports come per epoch); without a scheduler reports do not wait.

Faults: a Ray worker or node lost mid-trial (killed, out of memory, node gone) fails the trial with
the reason, or re-runs it up to ``max_retries`` times first; the run goes on. Ray's own automatic
task retries are turned off so that each retry is decided, and logged, here. A trial past
``trial_timeout`` is cancelled (its worker killed) and recorded as ``timeout``; :meth:`shutdown`
force-cancels every running task, so Ctrl-C or SIGTERM leave nothing running on the cluster.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import signal
import sys
import threading
import uuid
from pathlib import Path
from types import FrameType
from typing import Any

from archspace.errors import ArchspaceError
from archspace.evaluate.base import Evaluator
from archspace.experiment._signals import Terminated
from archspace.experiment.executors import _ray_inbox
from archspace.experiment.executors._ray_inbox import Inbox
from archspace.experiment.executors._ray_remote import (
    BELL_SECONDS,
    RayExecutorError,
    RayNotInstalledError,
    RayTrial,
    check_resources,
    import_ray,
    trial_task,
)
from archspace.experiment.executors._worker import pack_space
from archspace.experiment.executors.base import Executor, now
from archspace.experiment.runner import Event, Finished, Reported, Started
from archspace.experiment.source import RunSource
from archspace.nn.space import ModelSpace
from archspace.storage import TrialStatus

logger = logging.getLogger("archspace.experiment")


class RayExecutor(Executor):
    """Trials as Ray tasks with declared resources (see the module docstring).

    Args:
        concurrency: trials submitted at once (Ray queues them until resources are free).
        trial_timeout: seconds a trial may run once started; then it is cancelled as ``timeout``.
        ray_address: a cluster to join (``"auto"``, ``"ray://head:10001"``, ...); None starts a
            local Ray sized for ``concurrency`` trials, unless this process already runs one.
        resources_per_trial: ``{"cpu": 1, "gpu": 0}`` by default; fractional GPUs work
            (``{"cpu": 2, "gpu": 0.5}``), ``memory`` is in bytes. A trial uses as many torch threads
            as its CPUs.
        max_retries: times a trial whose Ray worker or node was lost is run again before it fails.
        ray_init_kwargs: extra arguments for ``ray.init`` (e.g. ``runtime_env``).
        startup_timeout: seconds to wait, on a Ray archspace did not start (a joined cluster, or
            one this process already runs), for the first trial to start: an autoscaler may add
            what a trial asks for, but if none starts by then the run stops and says what the
            cluster lacks. A local Ray archspace starts is refused at once when it cannot give
            one trial what it asks for (e.g. a GPU on a machine without one).

    With ``trial_processes`` > 1 (``Experiment(..., trial_processes=N)``) each trial's task is the
    agent of N ranks on its node (:mod:`archspace.experiment.executors._ranks`), and
    ``resources_per_trial`` is what the whole trial asks for; left out, it is one CPU per rank
    (``{"cpu": N}``). The ranks share the task's CPUs (at least one torch thread each) and, with
    GPUs, the GPUs Ray gives the task (rank ``LOCAL_RANK`` takes the GPU of that index).

    Example:
        >>> from archspace.experiment.executors.ray import RayExecutor
        >>> RayExecutor(2, resources_per_trial={"cpu": 1, "gpu": 0.5}).resources
        {'cpu': 1.0, 'gpu': 0.5}
    """

    supports_trial_processes = True

    def __init__(self, concurrency: int = 1, trial_timeout: float | None = None, *, ray_address: str | None = None,
                 resources_per_trial: dict[str, float] | None = None, max_retries: int = 0,
                 ray_init_kwargs: dict[str, Any] | None = None, startup_timeout: float = 120.0) -> None:
        super().__init__(concurrency, trial_timeout)
        if isinstance(startup_timeout, bool) or not isinstance(startup_timeout, (int, float)) or not startup_timeout > 0:
            raise RayExecutorError(f"startup_timeout must be a number of seconds > 0, got {startup_timeout!r}")
        self.startup_timeout = float(startup_timeout)
        if importlib.util.find_spec("ray") is None:
            raise RayNotInstalledError("executor 'ray' needs Ray: pip install 'archspace[ray]'")
        if ray_address is not None and (not isinstance(ray_address, str) or not ray_address):
            raise RayExecutorError(f"ray_address must be an address string such as 'auto' or 'ray://head:10001', "
                                   f"or None for a local Ray; got {ray_address!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise RayExecutorError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if ray_init_kwargs is not None and not isinstance(ray_init_kwargs, dict):
            raise RayExecutorError(f"ray_init_kwargs must be a mapping of ray.init arguments, got {ray_init_kwargs!r}")
        self.ray_address = ray_address
        self.resources = check_resources(resources_per_trial)
        self._resources_given = resources_per_trial is not None
        self.max_retries = max_retries
        self.ray_init_kwargs = dict(ray_init_kwargs or {})
        self._trials: dict[int, RayTrial] = {}
        self._owns_ray = False
        self._any_started = False
        self._local = False  # a Ray this executor started on this machine (not a joined cluster)
        self._waiting_since: float | None = None  # submitted, no trial started yet (the start-up deadline)
        self._ray: Any = None

    # Set-up and tear-down ------------------------------------------------------------------------
    def _start(self, space: ModelSpace, evaluator: Evaluator, source: RunSource | None,
               directory: Path | None) -> None:
        ray = self._ray = import_ray()
        from ray import cloudpickle

        if not self._resources_given:  # one CPU per rank unless the user said otherwise
            self.resources = check_resources({"cpu": float(self.trial_processes)})

        try:
            payload = cloudpickle.dumps((pack_space(space), evaluator))
        except Exception as exc:
            raise ArchspaceError(f"the Ray executor sends the space and evaluator to Ray workers, but they cannot be "
                                 f"pickled ({exc}); define them at module level, or use executor='inline'") from exc
        self._connect(ray)
        self._check_capacity(ray)
        self._waiting_since = None
        self._token = uuid.uuid4().hex
        self._payload = [ray.put(payload)]
        self._source = source
        self._paths = [p for p in sys.path if p] + [os.getcwd()]
        self._directory = None if directory is None else str(directory)
        self._threads = max(1, int(self.resources["cpu"]) // self.trial_processes)
        self._bell: Any = None
        # by value: the actor's process then starts without importing archspace and torch (seconds)
        cloudpickle.register_pickle_by_value(_ray_inbox)
        self._inbox = ray.remote(num_cpus=0, max_concurrency=self.concurrency + 4)(Inbox).remote()
        options: dict[str, Any] = {"num_cpus": self.resources["cpu"], "num_gpus": self.resources["gpu"],
                                   "max_retries": 0, "retry_exceptions": False}
        if self.resources.get("memory"):
            options["memory"] = self.resources["memory"]
        self._task = ray.remote(trial_task).options(**options)
        self._watch_sigterm()

    def _lacking(self, ray: Any) -> list[str]:
        """What one trial asks for that the whole Ray cluster does not have, as phrases."""
        try:
            total = ray.cluster_resources()
        except Exception as exc:  # a cluster that cannot say: nothing to refuse on
            logger.debug("Ray executor: cluster_resources failed: %s", exc)
            return []
        asked = {"CPU": self.resources["cpu"], "GPU": self.resources["gpu"],
                 "memory": self.resources.get("memory", 0.0)}
        return [f"{want:g} {name} (the cluster has {total.get(name, 0.0):g})"
                for name, want in asked.items() if want > total.get(name, 0.0) + 1e-9]

    def _check_capacity(self, ray: Any) -> None:
        """Refuse at once what a Ray we started can never give; warn about a cluster that may grow."""
        lacking = self._lacking(ray)
        if not lacking:
            return
        if self._local:
            self.shutdown()
            raise RayExecutorError(f"each trial asks for {', '.join(lacking)} in the local Ray archspace started, "
                                   "which can never run it: lower resources_per_trial, or join a cluster that has "
                                   "them with ray_address=...")
        logger.warning("Ray executor: each trial asks for %s; waiting up to %.0f s (startup_timeout) for the "
                       "cluster to provide them", ", ".join(lacking), self.startup_timeout)

    def _check_started(self) -> None:
        """The start-up deadline: trials submitted, none started within ``startup_timeout``."""
        if self._waiting_since is None or now() - self._waiting_since < self.startup_timeout:
            return
        lacking = self._lacking(self._ray)
        why = (f"each asks for {', '.join(lacking)}" if lacking else
               f"each asks for {self.resources} and the cluster has them, but none were free")
        raise RayExecutorError(f"no trial started within startup_timeout={self.startup_timeout:g} s: {why}; "
                               "add the resources to the cluster, lower resources_per_trial, or raise startup_timeout")

    def _watch_sigterm(self) -> None:
        """Note SIGTERM on its way to the driver's own handler (see :meth:`poll` for why)."""
        self._sigterm_seen = False
        self._sigterm_handler: Any = None
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return

        def noted(signum: int, frame: FrameType | None) -> None:
            self._sigterm_seen = True
            previous(signum, frame)

        signal.signal(signal.SIGTERM, noted)
        self._sigterm_handler = previous

    def _connect(self, ray: Any) -> None:
        """Join ``ray_address``, or start a local Ray unless this process already has one."""
        if ray.is_initialized():
            logger.info("Ray executor: using the Ray this process already started")
            return
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                  "log_to_driver": True, **self.ray_init_kwargs}
        if self.ray_address is None:
            # "local": a Ray of our own even when `ray start` left a cluster on this machine, which
            # a bare ray.init() would join (and then refuse num_cpus)
            kwargs["address"] = "local"
            kwargs.setdefault("num_cpus", max(1, math.ceil(self.concurrency * self.resources["cpu"])))
            if self.resources["gpu"] == 0:
                kwargs.setdefault("num_gpus", 0)
        else:
            kwargs["address"] = self.ray_address
        main = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if main else None
        # a local Ray we start is ours alone: its notice about token authentication is noise here
        notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
        level = notice.level
        if self.ray_address is None:
            notice.setLevel(logging.ERROR)
        try:
            ray.init(**kwargs)
        except Exception as exc:
            where = f"join the Ray cluster at {self.ray_address!r}" if self.ray_address else "start a local Ray"
            raise ArchspaceError(f"the Ray executor could not {where}: {exc}") from exc
        finally:
            notice.setLevel(level)
            if main and sigterm is not None:
                signal.signal(signal.SIGTERM, sigterm)  # ray.init replaces it; the driver's handler decides
        self._owns_ray = True
        self._local = self.ray_address is None
        logger.info("Ray executor: %s (%s per trial)", f"joined {self.ray_address}" if self.ray_address
                    else f"started a local Ray with {kwargs.get('num_cpus')} CPU(s)", self.resources)

    def shutdown(self) -> None:
        ray = self._ray
        if ray is None:
            return
        if getattr(self, "_sigterm_handler", None) is not None:
            signal.signal(signal.SIGTERM, self._sigterm_handler)
            self._sigterm_handler = None
        for trial in self._trials.values():
            self._cancel(trial, force=True)
        self._trials = {}
        if getattr(self, "_inbox", None) is not None:
            try:
                ray.kill(self._inbox)
            except Exception as exc:  # Ray already gone: nothing left to stop
                logger.debug("Ray executor: could not kill the inbox actor: %s", exc)
            self._inbox = None
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        self._ray = None

    def _cancel(self, trial: RayTrial, *, force: bool) -> None:
        try:
            self._ray.cancel(trial.ref, force=force)
        except Exception as exc:  # it ended meanwhile, or its worker is already gone
            logger.debug("Ray executor: cancelling a task failed: %s", exc)

    # Running trials ------------------------------------------------------------------------------
    def free_slots(self) -> int:
        return max(0, self.concurrency - len(self._trials))

    def running(self) -> list[int]:
        return list(self._trials)

    def submit(self, trial_id: int, sample: dict[str, Any]) -> None:
        self._trials[trial_id] = RayTrial(sample, self._launch(trial_id, 0, sample))
        if self._waiting_since is None and not self._local and not self._any_started:
            self._waiting_since = now()

    def _launch(self, trial_id: int, attempt: int, sample: dict[str, Any]) -> Any:
        return self._task.remote(self._token, self._payload, self._source, self._paths, self._threads,
                                 self._directory, self._inbox, self.judge is not None, trial_id, attempt, sample,
                                 self.keep_weights, self.trial_processes)

    def poll(self, timeout: float) -> list[Event]:
        try:
            return self._poll(timeout)
        except KeyboardInterrupt as exc:
            # A signal that arrives while Ray blocks in C++ comes out as a bare KeyboardInterrupt,
            # whatever the driver's handler raised: put SIGTERM back as Terminated (exit 143, not 130).
            if self._sigterm_seen and not isinstance(exc, Terminated):
                raise Terminated("SIGTERM") from None
            raise

    def _poll(self, timeout: float) -> list[Event]:
        ray = self._ray
        end = now() + max(0.0, timeout)
        while True:
            refs = {trial.ref: trial_id for trial_id, trial in self._trials.items()}
            if self._bell is None:
                self._bell = self._inbox.bell.remote(BELL_SECONDS)
            until = min([end] + [t.started + self.trial_timeout for t in self._trials.values()
                                 if t.started is not None and self.trial_timeout is not None])
            ready, _ = ray.wait([self._bell, *refs], num_returns=1, timeout=max(0.0, until - now()))
            rang = self._bell in ready or bool(ray.wait([self._bell], timeout=0)[0])
            if rang:
                ray.get(self._bell)
                self._bell = None
            done = ray.wait(list(refs), num_returns=len(refs), timeout=0)[0] if refs and ready else []
            events: list[Event] = []
            if rang or done:  # a task's reports waited for the inbox's answer: all of them are there now
                events = self._messages(ray.get(self._inbox.drain.remote()))
            for ref in done:
                if refs[ref] in self._trials and self._trials[refs[ref]].ref == ref:
                    events += self._ended(refs[ref], ref)
            events += self._time_outs()
            if not events:
                self._check_started()
            if events or now() >= end:
                return events

    def _messages(self, messages: list[tuple[Any, ...]]) -> list[Event]:
        events: list[Event] = []
        verdicts: list[tuple[int, int, int, bool]] = []
        for message in messages:
            trial = self._trials.get(message[1])
            current = trial is not None and trial.attempt == message[2]  # else a cancelled or lost attempt's
            if message[0] == "started":
                self._any_started, self._waiting_since = True, None
                if trial is not None and current:
                    trial.started, trial.worker = now(), message[3]
                    events.append(Started(message[1], message[3]))
                continue
            _, trial_id, attempt, seq, step, value = message
            if trial is None or not current:
                verdicts.append((trial_id, attempt, seq, True))  # never leave a report waiting
                continue
            trial.last_value = value
            events.append(Reported(trial_id, step, value))
            if self.judge is not None:
                stop = trial.judged or bool(self.judge(trial_id, step, value))
                trial.judged = stop
                verdicts.append((trial_id, attempt, seq, stop))
        if verdicts:
            self._inbox.answer.remote(verdicts)
        return events

    def _ended(self, trial_id: int, ref: Any) -> list[Event]:
        ray = self._ray
        trial = self._trials[trial_id]
        try:
            result: Finished = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            result = Finished(trial_id, TrialStatus.FAILED, error="the Ray task was cancelled")
        except ray.exceptions.RayTaskError as exc:  # raised past run_trial: not a lost worker, no retry
            result = Finished(trial_id, TrialStatus.FAILED, error=f"the Ray task failed: {exc}")
        except ray.exceptions.RayError as exc:  # worker or node lost
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
            reason = f"Ray worker died: {type(exc).__name__}: {what} (worker {trial.worker or 'not yet started'})"
            if not trial.judged and trial.attempt < self.max_retries:
                trial.attempt += 1
                logger.warning("trial %d: %s; running it again (retry %d of %d)", trial_id, reason, trial.attempt,
                               self.max_retries)
                trial.ref, trial.started, trial.worker = self._launch(trial_id, trial.attempt, trial.sample), None, None
                return []
            result = Finished(trial_id, TrialStatus.FAILED, error=reason + (
                f" (after {trial.attempt} retr{'y' if trial.attempt == 1 else 'ies'})" if trial.attempt else ""))
        del self._trials[trial_id]
        if trial.judged and result.status is not TrialStatus.PRUNED:  # e.g. its worker was lost after the verdict
            result = Finished(trial_id, TrialStatus.PRUNED, metric=trial.last_value)
        return [result]

    def _time_outs(self) -> list[Event]:
        if self.trial_timeout is None:
            return []
        events: list[Event] = []
        for trial_id, trial in list(self._trials.items()):
            if trial.started is not None and now() - trial.started >= self.trial_timeout:
                self._cancel(trial, force=True)
                del self._trials[trial_id]
                events.append(Finished(trial_id, TrialStatus.TIMEOUT,
                                       error=f"trial exceeded its timeout of {self.trial_timeout} s; "
                                             "its Ray task was cancelled (worker killed)"))
        return events


__all__ = ["RayExecutor", "RayExecutorError", "RayNotInstalledError"]
