"""The process executor: a pool of long-lived worker processes, one trial at a time each.

Workers are started with ``spawn`` (``fork`` after torch has used its OpenMP thread pool can hang
the child), receive the pickled space and evaluator once, and then only ``(trial_id, sample)``
messages, so a trial costs a pipe round trip plus the freeze. Each worker gets a fair share of
torch threads. A worker that dies (segfault, OOM kill, SIGKILL) fails its trial with the signal's
name and is replaced; a trial past its timeout has its worker killed and replaced.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing as mp
import os
import pickle
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from archspace.errors import ArchspaceError
from archspace.evaluate.base import Evaluator
from archspace.experiment.executor import Executor, now
from archspace.experiment.runner import Event, Finished, Reported, Started, run_trial
from archspace.nn.space import ModelSpace

logger = logging.getLogger("archspace.experiment")


def _load_source(source: dict[str, str] | None) -> None:
    """Import the user's experiment file under the module name its classes were pickled with."""
    if not source or source["module"] in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(source["module"], source["path"])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[source["module"]] = module
    spec.loader.exec_module(module)


def _worker_main(conn: Connection, payload: bytes, source: dict[str, str] | None, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides how to stop
    import torch

    torch.set_num_threads(threads)
    _load_source(source)
    space, evaluator = pickle.loads(payload)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        trial_id, sample = message
        conn.send(("started", trial_id))  # the driver starts the trial's clock now, not at submit

        def report(step: int, value: float, trial_id: int = trial_id) -> None:
            conn.send(("report", trial_id, step, value))

        result = run_trial(space, evaluator, trial_id, sample, report)
        conn.send(("done", result))


@dataclass
class _Worker:
    name: str
    process: Any
    conn: Connection
    trial_id: int | None = None
    deadline: float | None = None


class ProcessExecutor(Executor):
    """Trials in ``concurrency`` worker processes (see the module docstring)."""

    def __init__(self, concurrency: int = 1, trial_timeout: float | None = None) -> None:
        super().__init__(concurrency, trial_timeout)
        self._workers: list[_Worker] = []
        self._spawned = 0

    def start(self, space: ModelSpace, evaluator: Evaluator, source: dict[str, str] | None = None) -> None:
        try:
            self._payload = pickle.dumps((space, evaluator))
        except Exception as exc:
            raise ArchspaceError(
                f"the process executor sends the space and evaluator to workers, but they cannot be "
                f"pickled ({exc}); define them at module level, or use executor='inline'"
            ) from exc
        self._source = source
        self._threads = max(1, (os.cpu_count() or 1) // self.concurrency)
        self._ctx = mp.get_context("spawn")
        self._workers = [self._spawn() for _ in range(self.concurrency)]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        name = f"worker-{self._spawned}"
        self._spawned += 1
        process = self._ctx.Process(target=_worker_main, args=(child, self._payload, self._source, self._threads),
                                    name=f"archspace-{name}", daemon=True)
        process.start()
        child.close()
        return _Worker(name, process, parent)

    def free_slots(self) -> int:
        return sum(1 for w in self._workers if w.trial_id is None)

    def running(self) -> list[int]:
        return [w.trial_id for w in self._workers if w.trial_id is not None]

    def submit(self, trial_id: int, sample: dict[str, Any]) -> None:
        worker = next(w for w in self._workers if w.trial_id is None)
        worker.trial_id = trial_id
        worker.deadline = None  # set when the worker says it started (it may still be booting)
        worker.conn.send((trial_id, sample))

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        deadlines = [w.deadline for w in self._workers if w.deadline is not None]
        if deadlines:
            timeout = max(0.0, min(timeout, min(deadlines) - now()))
        waitables: list[Any] = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        wait(waitables, timeout)
        for index, worker in enumerate(list(self._workers)):
            events += self._drain(worker)
            if not worker.process.is_alive():
                events += self._replace(index, worker, self._death_reason(worker))
            elif worker.deadline is not None and now() >= worker.deadline:
                worker.process.kill()
                worker.process.join()
                events += self._drain(worker)  # it may have finished at the last moment
                if worker.trial_id is not None:
                    events.append(Finished(worker.trial_id, "timeout",
                                           error=f"trial exceeded its timeout of {self.trial_timeout} s; "
                                                 f"{worker.name} was killed and replaced"))
                    worker.trial_id = None
                worker.conn.close()
                self._workers[index] = self._spawn()
        return events

    def _drain(self, worker: _Worker) -> list[Event]:
        events: list[Event] = []
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "started":
                    worker.deadline = now() + self.trial_timeout if self.trial_timeout else None
                    events.append(Started(message[1], worker.name))
                elif message[0] == "report":
                    _, trial_id, step, value = message
                    events.append(Reported(trial_id, step, value))
                else:
                    events.append(message[1])
                    worker.trial_id = None
                    worker.deadline = None
        except (EOFError, ConnectionError, OSError):
            pass
        return events

    @staticmethod
    def _death_reason(worker: _Worker) -> str:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"was killed by {name}"
            if -code == signal.SIGKILL:
                how += " (e.g. the out-of-memory killer)"
            elif -code == signal.SIGSEGV:
                how += " (a segmentation fault)"
        else:
            how = f"exited with code {code}"
        return f"{worker.name} (pid {worker.process.pid}) {how} while running the trial"

    def _replace(self, index: int, worker: _Worker, reason: str) -> list[Event]:
        events: list[Event] = []
        if worker.trial_id is not None:
            events.append(Finished(worker.trial_id, "failed", error=reason))
            logger.warning("trial %d failed: %s; starting a new worker", worker.trial_id, reason)
        worker.conn.close()
        self._workers[index] = self._spawn()
        return events

    def shutdown(self) -> None:
        for worker in self._workers:
            if worker.trial_id is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
        for worker in self._workers:
            if worker.trial_id is not None:
                worker.process.kill()
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []


__all__ = ["ProcessExecutor"]
