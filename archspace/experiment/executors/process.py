"""The process executor: a pool of long-lived worker processes, one trial at a time each.

Workers are forked from a ``forkserver`` that has imported torch and the worker's code once (where
the platform has one; else ``spawn``). ``fork`` from the driver itself is never used: after torch
has used its OpenMP thread pool a forked child can hang, and the fork server never runs torch
code, only imports it. A worker started this way is ready in tens of milliseconds instead of the
~2.4 CPU-seconds a spawned one spends importing torch, which is what recycled, replaced and
timed-out workers, and every new experiment in a long-lived driver (a notebook, a test run),
used to pay each time. A worker receives the driver's environment as it is when the worker
starts (the fork server's own is the one it was started with), the pickled space and evaluator
once, and then only ``(trial_id, sample)`` messages, so a trial costs a pipe round trip plus the
freeze. Each worker gets a fair share of torch threads and dies with the driver (see
:mod:`archspace.experiment.executors._worker`).

Faults: a worker that dies during a trial (segfault, OOM kill, SIGKILL) fails its trial with the
signal's name and is replaced; a trial past its timeout has its worker killed and replaced; a
worker that does not report ready within ``startup_timeout`` is killed and replaced and its trial
handed to the new worker (not failed) — after three start-up failures in a row the executor gives
up with an error, since something in the set-up itself is broken. Workers are recycled after
``max_trials_per_worker`` trials, and always after a trial that raised ``MemoryError`` (a leaking
evaluator would otherwise make every later trial on that worker fail).

Early stopping: when the driver sets :attr:`~archspace.experiment.executors.base.Executor.judge`, a
worker waits after each report for the verdict, which the driver sends while draining that
worker's pipe; a stop verdict makes the trial's ``ctx.report`` raise ``TrialPruned`` in the worker.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import multiprocessing.forkserver
import os
import pickle
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from archspace.errors import ArchspaceError
from archspace.evaluate.base import Evaluator
from archspace.experiment.executors._worker import pack_space, worker_main
from archspace.experiment.executors.base import Executor, fair_threads, killed_by, now
from archspace.experiment.runner import Event, Finished, Reported, Started
from archspace.experiment.source import RunSource
from archspace.nn.space import ModelSpace
from archspace.storage import TrialStatus

logger = logging.getLogger("archspace.experiment")
MAX_STARTUP_FAILURES = 3
START_METHODS = ("forkserver", "spawn")
#: what the fork server imports once, so that forked workers start without importing it
FORKSERVER_PRELOAD = ("torch", "archspace.experiment.executors._worker")


def default_start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn``."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def preload_forkserver() -> None:
    """Have the fork server import torch and the worker's module, if it is not running yet.

    Python's default asks the server to import the driver's main script (which it does since
    CPython gh-126631, in 3.13 and later; before, the request was silently ignored). That is dropped: a
    script's module-level code (``device = "cuda" if torch.cuda.is_available() else "cpu"`` is
    common) would then run in the server, and CUDA initialised there breaks CUDA in every worker
    forked from it. Each worker imports the main script itself, as a spawned one does. The server
    is one per driver process and shared with any other user of the ``forkserver`` start method:
    modules someone else asked for are kept, and a server already running (started by other code
    first) is left as it is — its workers then import torch themselves, as spawned ones do.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is not None:
        return
    current = [m for m in getattr(server, "_preload_modules", None) or [] if m != "__main__"]
    multiprocessing.forkserver.set_forkserver_preload(current + [m for m in FORKSERVER_PRELOAD if m not in current])


class WorkerStartupError(ArchspaceError, RuntimeError):
    """Worker processes keep failing to start (the evaluator, the space or the experiment file)."""


@dataclass
class _Worker:
    name: str
    process: Any
    conn: Connection
    started: float
    ready: bool = False
    trial_id: int | None = None
    sample: dict[str, Any] | None = None
    handed: float | None = None  # when the trial was sent; cleared once the worker starts it
    deadline: float | None = None
    trials_done: int = 0
    events: list[Event] = field(default_factory=list)


class ProcessExecutor(Executor):
    """Trials in ``concurrency`` worker processes (see the module docstring).

    Args:
        concurrency: worker processes (trials at once).
        trial_timeout: seconds a trial may run once its worker has started it.
        startup_timeout: seconds a new worker may take to import, unpickle and report ready.
        max_trials_per_worker: recycle a worker after this many trials (None: never, except
            after a ``MemoryError``).
        worker_memory_limit: MiB of address space a worker may add beyond its size once ready
            (Linux ``RLIMIT_AS``); a trial over it fails with ``MemoryError`` and the worker is recycled.
        start_method: ``"forkserver"`` (the default where the platform has it: workers forked from
            a server that has imported torch once) or ``"spawn"`` (each worker a fresh interpreter
            that imports everything itself).

    With ``trial_processes`` > 1 (``Experiment(..., trial_processes=N)``) each worker is the agent
    of its trials, which run as N ranks sharing the worker's threads
    (:mod:`archspace.experiment.executors._ranks`); a trial past its timeout has its worker and
    every rank killed.
    """

    supports_trial_processes = True

    def __init__(self, concurrency: int = 1, trial_timeout: float | None = None, *,
                 startup_timeout: float = 120.0, max_trials_per_worker: int | None = None,
                 worker_memory_limit: float | None = None, start_method: str | None = None) -> None:
        super().__init__(concurrency, trial_timeout)
        if start_method is None:
            start_method = default_start_method()
        if start_method not in START_METHODS:
            why = (" (fork copies the driver after torch may have started its thread pool, which can hang the "
                   "worker)" if start_method == "fork" else "")
            raise ValueError(f"start_method must be one of {', '.join(START_METHODS)}, got {start_method!r}{why}")
        if start_method not in mp.get_all_start_methods():
            raise ValueError(f"start_method {start_method!r} is not available on this platform "
                             f"(available: {', '.join(mp.get_all_start_methods())})")
        self.start_method = start_method
        if not isinstance(startup_timeout, (int, float)) or isinstance(startup_timeout, bool) or startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be positive seconds, got {startup_timeout!r}")
        if max_trials_per_worker is not None and (not isinstance(max_trials_per_worker, int)
                                                  or isinstance(max_trials_per_worker, bool)
                                                  or max_trials_per_worker < 1):
            raise ValueError(f"max_trials_per_worker must be a positive int or None, got {max_trials_per_worker!r}")
        if worker_memory_limit is not None and (not isinstance(worker_memory_limit, (int, float))
                                                or worker_memory_limit <= 0):
            raise ValueError(f"worker_memory_limit must be positive MiB or None, got {worker_memory_limit!r}")
        self.startup_timeout = float(startup_timeout)
        self.max_trials_per_worker = max_trials_per_worker
        self.worker_memory_limit = worker_memory_limit
        self._workers: list[_Worker] = []
        self._retiring: list[_Worker] = []
        self._lifeline_read: Connection | None = None
        self._lifeline_write: Connection | None = None
        self._spawned = 0
        self._startup_failures = 0

    def _start(self, space: ModelSpace, evaluator: Evaluator, source: RunSource | None,
               directory: Path | None) -> None:
        try:
            self._payload = pickle.dumps((pack_space(space), evaluator))
        except Exception as exc:
            raise ArchspaceError(
                f"the process executor sends the space and evaluator to workers, but they cannot be "
                f"pickled ({exc}); define them at module level, or use executor='inline'"
            ) from exc
        self._source = source
        self._threads = fair_threads(self.concurrency)
        self._directory = None if directory is None else str(directory)
        self._ctx: Any = mp.get_context(self.start_method)
        if self.start_method == "forkserver":
            preload_forkserver()
        # every worker holds the read end; the driver alone holds the write end, so its death
        # (however it dies) is an end-of-file in each worker (see _worker.die_with_driver)
        self._lifeline_read, self._lifeline_write = self._ctx.Pipe(duplex=False)
        self._workers = [self._spawn() for _ in range(self.concurrency)]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        name = f"worker-{self._spawned}"
        self._spawned += 1
        process = self._ctx.Process(
            target=worker_main, name=f"archspace-{name}", daemon=True,
            args=(child, self._payload, self._source, self._threads, self._lifeline_read, self.worker_memory_limit,
                  self._directory, self.judge is not None, self.keep_weights, self.trial_processes,
                  dict(os.environ)),
        )
        self._start_process(process)
        child.close()
        return _Worker(name, process, parent, started=now())

    def _start_process(self, process: Any) -> None:
        """Start ``process``; under ``forkserver``, ride out a fork server that has just died.

        Python starts a new server when it finds the old one gone, but a server killed a moment ago
        may not be reapable yet, and connecting to it is then refused: try again a few times.
        """
        attempts = 5
        for attempt in range(attempts):
            try:
                process.start()
                return
            except (ConnectionError, FileNotFoundError, EOFError) as exc:
                if self.start_method != "forkserver":
                    raise
                if attempt == attempts - 1:
                    raise WorkerStartupError(
                        f"could not start a worker through the fork server ({type(exc).__name__}: {exc}); the server "
                        "imports the driver's main script as it starts, so a script that runs its experiment at "
                        "import (not under `if __name__ == '__main__':`) or fails to import stops it; or use "
                        "ProcessExecutor(start_method='spawn')") from exc
                time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """Pids of the live worker processes (for tests and diagnostics)."""
        return [w.process.pid for w in self._workers + self._retiring if w.process.is_alive()]

    def free_slots(self) -> int:
        return sum(1 for w in self._workers if w.trial_id is None)

    def running(self) -> list[int]:
        return [w.trial_id for w in self._workers if w.trial_id is not None]

    def submit(self, trial_id: int, sample: dict[str, Any]) -> None:
        worker = next(w for w in self._workers if w.trial_id is None)
        self._hand(worker, trial_id, sample)

    @staticmethod
    def _hand(worker: _Worker, trial_id: int, sample: dict[str, Any]) -> None:
        worker.trial_id, worker.sample, worker.handed = trial_id, sample, now()
        worker.deadline = None  # set when the worker says it started (it may still be booting)
        worker.conn.send((trial_id, sample))

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        deadlines = [w.deadline for w in self._workers if w.deadline is not None]
        deadlines += [d for d in map(self._start_deadline, self._workers) if d is not None]
        if deadlines:
            timeout = max(0.0, min(timeout, min(deadlines) - now()))
        waitables: list[Any] = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        wait(waitables, timeout)
        for index, worker in enumerate(list(self._workers)):
            events += self._drain(worker)
            if self._should_retire(worker):
                self._retire(index, worker)
            elif not worker.process.is_alive():
                events += self._drain(worker)
                events += self._replace(index, worker, self._death_reason(worker))
            elif (start_by := self._start_deadline(worker)) is not None and now() >= start_by:
                self._restart_hung(index, worker)
            elif worker.deadline is not None and now() >= worker.deadline:
                events += self._time_out(index, worker)
        self._reap()
        return events

    def _drain(self, worker: _Worker) -> list[Event]:
        events: list[Event] = []
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "ready":
                    worker.ready = True
                    self._startup_failures = 0
                elif message[0] == "started":
                    worker.handed = None
                    worker.deadline = now() + self.trial_timeout if self.trial_timeout else None
                    events.append(Started(message[1], worker.name))
                elif message[0] == "report":
                    _, trial_id, step, value = message
                    events.append(Reported(trial_id, step, value))
                    if self.judge is not None:  # the worker waits for the verdict
                        worker.conn.send(bool(self.judge(trial_id, step, value)))
                else:
                    result: Finished = message[1]
                    events.append(result)
                    worker.trial_id = worker.sample = worker.deadline = None
                    worker.trials_done += 1
                    if result.exception == "MemoryError":
                        worker.trials_done = -1  # marks it for recycling
        except (EOFError, ConnectionError, OSError):
            pass
        return events

    def _should_retire(self, worker: _Worker) -> bool:
        if worker.trial_id is not None:
            return False
        if worker.trials_done < 0:
            return True
        return self.max_trials_per_worker is not None and worker.trials_done >= self.max_trials_per_worker

    def _retire(self, index: int, worker: _Worker) -> None:
        """Ask an idle worker to exit (it frees its memory) and start a fresh one in its place."""
        try:
            worker.conn.send(None)
        except (OSError, ValueError):
            pass
        logger.info("%s recycled after %s", worker.name,
                    "a MemoryError" if worker.trials_done < 0 else f"{worker.trials_done} trials")
        self._retiring.append(worker)
        self._workers[index] = self._spawn()

    def _reap(self) -> None:
        for worker in list(self._retiring):
            if not worker.process.is_alive():
                worker.process.join()
                worker.conn.close()
                self._retiring.remove(worker)

    def _start_deadline(self, worker: _Worker) -> float | None:
        """When a worker must have reported ready, or started the trial it was handed (else None)."""
        if not worker.ready:
            return worker.started + self.startup_timeout
        if worker.handed is not None:  # ready, yet silent about its trial: stopped or wedged
            return worker.handed + self.startup_timeout
        return None

    def _restart_hung(self, index: int, worker: _Worker) -> None:
        """A worker that never reported ready, or never started the trial it was handed: kill it and
        hand its trial to a new one (the trial never ran, so it is not failed)."""
        what = "start" if not worker.ready else f"begin trial {worker.trial_id}"
        reason = (f"{worker.name} (pid {worker.process.pid}) did not {what} within startup_timeout="
                  f"{self.startup_timeout:g} s")
        worker.process.kill()
        worker.process.join()
        worker.conn.close()
        if not worker.ready:
            self._startup_failures += 1
            self._check_startups(reason)
        logger.warning("%s; killed and replaced%s", reason,
                       f", trial {worker.trial_id} handed to the new worker" if worker.trial_id is not None else "")
        fresh = self._spawn()
        self._workers[index] = fresh
        if worker.trial_id is not None and worker.sample is not None:
            self._hand(fresh, worker.trial_id, worker.sample)

    def _check_startups(self, reason: str) -> None:
        if self._startup_failures >= MAX_STARTUP_FAILURES:
            raise WorkerStartupError(
                f"{self._startup_failures} worker processes in a row failed to start (last: {reason}); "
                "check that the space, the evaluator and the experiment file import and unpickle in a fresh "
                "process (try executor='inline' to see the error), or raise startup_timeout"
            )

    def _time_out(self, index: int, worker: _Worker) -> list[Event]:
        worker.process.kill()
        worker.process.join()
        events = self._drain(worker)  # it may have finished at the last moment
        if worker.trial_id is not None:
            events.append(Finished(worker.trial_id, TrialStatus.TIMEOUT,
                                   error=f"trial exceeded its timeout of {self.trial_timeout} s; "
                                         f"{worker.name} was killed and replaced"))
        worker.conn.close()
        self._workers[index] = self._spawn()
        return events

    def _death_reason(self, worker: _Worker) -> str:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        how = killed_by(code) or f"exited with code {code}"
        if code == 255 and self.start_method == "forkserver":  # the server reports 255 for a child it lost
            how += " (or died with the fork server that started it)"
        return f"{worker.name} (pid {worker.process.pid}) {how} while running the trial"

    def _replace(self, index: int, worker: _Worker, reason: str) -> list[Event]:
        events: list[Event] = []
        worker.conn.close()
        if not worker.ready:  # died while starting: the trial never ran
            self._startup_failures += 1
            self._check_startups(reason.replace("while running the trial", "while starting"))
            fresh = self._spawn()
            self._workers[index] = fresh
            if worker.trial_id is not None and worker.sample is not None:
                self._hand(fresh, worker.trial_id, worker.sample)
            return events
        if worker.trial_id is not None:
            events.append(Finished(worker.trial_id, TrialStatus.FAILED, error=reason))
            logger.warning("trial %d failed: %s; starting a new worker", worker.trial_id, reason)
        self._workers[index] = self._spawn()
        return events

    def shutdown(self) -> None:
        for worker in self._workers:
            if worker.trial_id is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
        for worker in self._workers + self._retiring:
            if worker.trial_id is not None or not worker.ready:
                worker.process.kill()
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []
        self._retiring = []
        for end in (self._lifeline_read, self._lifeline_write):
            if end is not None:
                end.close()
        self._lifeline_read = self._lifeline_write = None


__all__ = ["ProcessExecutor", "WorkerStartupError", "default_start_method", "preload_forkserver"]
