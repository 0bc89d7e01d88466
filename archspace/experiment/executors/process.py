"""The process executor: a pool of long-lived worker processes, one trial at a time each.

Workers are forked from a ``forkserver`` that has imported torch and the worker's code once (on
Linux; ``spawn`` elsewhere, and whenever the running server does not fit the driver: see
:func:`fork_server_fits`). ``fork`` from the driver itself is never used: after torch
has used its OpenMP thread pool a forked child can hang, and the fork server never runs torch
code, only imports it. A worker started this way is ready in tens of milliseconds instead of the
~2.4 CPU-seconds a spawned one spends importing torch, which is what recycled, replaced and
timed-out workers, and every new experiment in a long-lived driver (a notebook, a test run),
used to pay each time. A worker receives the driver's environment as it is when the worker
starts (the fork server's own is the one it was started with; module-level code of the driver's
main script, which each worker re-imports before its own code runs, still sees the server's —
``start_method="spawn"`` where such code reads variables that change between experiments), the
pickled space and evaluator once, and then only ``(trial_id, sample)`` messages, so a trial costs
a pipe round trip plus the freeze. Each worker gets a fair share of torch threads and dies with
the driver (see :mod:`archspace.experiment.executors._worker`).

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

import contextlib
import logging
import multiprocessing as mp
import multiprocessing.forkserver
import os
import pickle
import signal
import sys
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


#: environment variables read when torch loads or a GPU runtime starts (or that decide what is
#: imported): fixed in the fork server's preloaded torch, so a driver whose values differ from the
#: server's own starts its workers with ``spawn`` instead
IMPORT_TIME_PREFIXES = ("CUDA_", "HIP_", "ROCR_", "OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_", "PYTORCH_",
                        "TORCH_", "NCCL_", "LD_", "PYTHON")
#: the fork server this module launched: its pid and the import-time environment it started under
_SERVER: dict[str, Any] = {}


def default_start_method() -> str:
    """``forkserver`` on Linux, else ``spawn``.

    macOS has a fork server too, but Python itself keeps ``spawn`` as the default there (system
    frameworks are not fork-safe, and the server would fork after loading torch's), and the
    kernel's parent-death signal that ends forked workers with their server is Linux's.
    """
    return "forkserver" if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods() else "spawn"


def _import_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(IMPORT_TIME_PREFIXES)}


def fork_server_fits() -> bool:
    """Whether workers may be forked from the fork server as it is now.

    Yes when none runs (the next start launches one from this driver's environment), or when the
    one running is the one this module launched and the variables of :data:`IMPORT_TIME_PREFIXES`
    are as they were then. No for a server started by other code (its preloads and environment
    are unknown) or after such a variable changed (``CUDA_VISIBLE_DEVICES`` between two
    experiments, say): workers are then spawned, which is correct at spawn's cost.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    if server is None:
        return False
    pid = getattr(server, "_forkserver_pid", None)
    return pid is None or (_SERVER.get("pid") == pid and _SERVER.get("env") == _import_env())


def preload_forkserver() -> None:
    """Have the fork server import torch and the worker's module, if it is not running yet.

    Python's default asks the server to import the driver's main script (which it does since
    CPython gh-126631, in 3.13 and later; before, the request was silently ignored). That is dropped:
    a script's module-level code (``device = "cuda" if torch.cuda.is_available() else "cpu"`` is
    common) would then run in the server, and CUDA initialised there breaks CUDA in every worker
    forked from it. Each worker imports the main script itself, as a spawned one does. Modules
    someone else asked the server to preload are kept.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is not None:
        return
    current = [m for m in getattr(server, "_preload_modules", None) or [] if m != "__main__"]
    multiprocessing.forkserver.set_forkserver_preload(current + [m for m in FORKSERVER_PRELOAD if m not in current])


def launch_fork_server() -> None:
    """Start the fork server now, if none runs, so that it imports what this driver would import.

    Python 3.11's server does not take the driver's ``sys.path`` (it is passed and ignored), so a
    driver that put another copy of a package first on its path would fork workers running the
    server's copy: the server is started with the driver's path as its ``PYTHONPATH``. Workers do
    not keep that: each gets the driver's environment as it is (see ``worker_main``).
    """
    env = _import_env()
    preload_forkserver()
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid is not None and pid != _SERVER.get("pid"):
        _SERVER.update(pid=pid, env=env)


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
        start_method: ``"forkserver"`` (the default on Linux: workers forked from a server that has
            imported torch once, where it fits the driver: :func:`fork_server_fits`) or ``"spawn"``
            (each worker a fresh interpreter that imports everything itself; the default elsewhere).

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
        self._method = self.start_method
        if self._method == "forkserver" and not fork_server_fits():
            logger.info("the fork server was started by other code or under other values of %s...: workers are "
                        "spawned", "/".join(IMPORT_TIME_PREFIXES))
            self._method = "spawn"
        self._ctx: Any = mp.get_context(self._method)
        if self._method == "forkserver":
            launch_fork_server()
        # every worker holds the read end; the driver alone holds the write end, so its death
        # (however it dies) is an end-of-file in each worker (see _worker.die_with_driver)
        self._lifeline_read, self._lifeline_write = self._ctx.Pipe(duplex=False)
        self._workers = [self._spawn() for _ in range(self.concurrency)]

    def _spawn(self) -> _Worker:
        name = f"worker-{self._spawned}"
        self._spawned += 1
        attempts = 5 if self._method == "forkserver" else 1
        for attempt in range(attempts):
            parent, child = self._ctx.Pipe()
            process = self._ctx.Process(
                target=worker_main, name=f"archspace-{name}", daemon=True,
                args=(child, self._payload, self._source, self._threads, self._lifeline_read,
                      self.worker_memory_limit, self._directory, self.judge is not None, self.keep_weights,
                      self.trial_processes, dict(os.environ)),
            )
            try:
                process.start()
            except (ConnectionError, FileNotFoundError, EOFError) as exc:
                # a fork server killed a moment ago may not be reapable yet, so Python still thinks
                # it runs and connecting is refused: a fresh pipe and process, after a new server
                parent.close()
                child.close()
                if self._method != "forkserver":
                    raise
                if attempt == attempts - 1:
                    raise WorkerStartupError(
                        f"could not start a worker through the fork server ({type(exc).__name__}: {exc}); it may "
                        "fail to import torch or archspace as it starts; ProcessExecutor(start_method='spawn') "
                        "starts workers without it") from exc
                time.sleep(0.2)
                launch_fork_server()
                continue
            child.close()
            return _Worker(name, process, parent, started=now())
        raise AssertionError("unreachable")

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
        if code == 255 and self._method == "forkserver":  # the server reports 255 for a child it lost
            how += " (or died with the fork server that started it)"
            with contextlib.suppress(OSError):  # the server died, perhaps not the worker: make sure
                os.kill(worker.process.pid, signal.SIGKILL)
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


__all__ = ["ProcessExecutor", "WorkerStartupError", "default_start_method", "fork_server_fits",
           "launch_fork_server", "preload_forkserver"]
