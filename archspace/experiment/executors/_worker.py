"""The worker process of the process executor: what runs on the other side of the pipe.

A worker must never outlive its driver. Without this, a SIGKILLed driver left workers running
their trials, and a resumed run then evaluated the same trial ids twice at once. Two guards, since
a worker forked by the fork server is the server's child, not the driver's:

- the driver holds the write end of a pipe (the *lifeline*) whose read end every worker holds; a
  daemon thread waits on it, and end-of-file — the driver's end closed, which the kernel does
  however the driver dies — ends the worker at once;
- on Linux the kernel also kills the worker when its parent dies (``PR_SET_PDEATHSIG``): the
  driver under ``spawn``, the fork server under ``forkserver`` (which exits when its driver does).

Both are armed by the worker itself, first thing in :func:`worker_main`: a worker stopped (SIGSTOP)
before that is not covered. That window is what comes before ``worker_main`` runs: importing the
driver's main script (both start methods re-run its module-level code) and, under ``spawn``,
importing torch — seconds — where a forked worker has torch already.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import multiprocessing.forkserver
import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from archspace.experiment.executors._ranks import RankConfig, run_ranks
from archspace.experiment.runner import run_trial
from archspace.experiment.source import RunSource, add_import_paths

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SpaceRecipe:
    """A model space as its class and constructor arguments, rebuilt in the worker.

    Workers only freeze samples and validate them, and freezing re-runs the constructor anyway,
    so the constructor's arguments are all a worker needs. Sending them instead of the pickled
    module avoids serialising every candidate's weights: for the DARTS space, 20 MB and about
    2 s of pickling per run, against 0.7 s to construct it in each worker.
    """

    cls: type[Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def build(self) -> Any:
        return self.cls(*self.args, **self.kwargs)


def pack_space(space: Any) -> Any:
    """The space as a :class:`SpaceRecipe` when its class and arguments pickle; else the space."""
    init = space.__dict__.get("_asp_init_args")
    if init is None or getattr(space, "is_frozen", False):
        return space
    recipe = SpaceRecipe(type(space), tuple(init[0]), dict(init[1]))
    try:
        pickle.loads(pickle.dumps(recipe))  # importable class, picklable arguments
    except Exception:
        return space
    return recipe


def load_source(source: RunSource | None) -> None:
    """Make the user's classes importable before the space and evaluator are unpickled.

    The source's folders (the file's folder and the driver's working directory, where a config's
    ``myspace.py`` lives) go first on ``sys.path``; an experiment defined in a Python file is then
    imported under the module name its classes were pickled with.
    """
    if source is None:
        return
    add_import_paths(source.paths)
    if not source.needs_import or source.module in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(source.module, source.path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the experiment file {source.path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[source.module] = module
    sys.path.insert(0, os.path.dirname(source.path))
    spec.loader.exec_module(module)


def _arm_parent_death_signal() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))


def _let_the_fork_server_go() -> None:
    """Close this forked worker's copy of its fork server's "alive" pipe.

    Python hands every child of a fork server the write end of the pipe whose end-of-file tells
    the server that its clients are gone, so the server lives until the driver *and* every worker
    have exited. A worker that cannot run its watch thread (SIGSTOPped) would then keep the server
    up after the driver died, and the server's exit is what kills the worker (its parent) — neither
    would end. Without the copy, the server exits with the driver and takes every worker with it.
    Only forked children hold one (a spawned worker's is ``None``); a worker that uses the
    ``forkserver`` start method itself starts its own server, as it would anyway.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if server is None or fd is None or getattr(server, "_forkserver_pid", None) is not None:
        return  # spawned, or this process runs a fork server of its own
    server._forkserver_alive_fd = None
    with contextlib.suppress(OSError):
        os.close(fd)


def die_with_driver(lifeline: Connection) -> None:
    """End this worker as soon as the driver holding the other end of ``lifeline`` is gone."""
    _arm_parent_death_signal()
    _let_the_fork_server_go()
    if lifeline.poll():  # the driver died before the guards were in place
        os._exit(1)

    def watch() -> None:
        with contextlib.suppress(Exception):
            lifeline.poll(None)  # nothing is ever sent: this returns at end-of-file, the driver gone
        os._exit(1)

    threading.Thread(target=watch, name="archspace-driver-watch", daemon=True).start()


def die_with_parent(parent: int) -> None:
    """Arrange for this process to end when its parent, process ``parent``, ends (the ranks of a
    multi-process trial, which their worker starts as plain subprocesses)."""
    _arm_parent_death_signal()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="archspace-parent-watch", daemon=True).start()


def limit_memory(extra_mb: float | None) -> None:
    """Cap this process's address space at its current size plus ``extra_mb`` (Linux)."""
    if not extra_mb:
        return
    import resource

    size = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                size = int(line.split()[1]) * 1024
    if size:
        limit = size + int(extra_mb * 2**20)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def worker_main(conn: Connection, payload: bytes, source: RunSource | None, threads: int, lifeline: Connection,
                memory_mb: float | None, directory: str | None = None, judged: bool = False,
                keep_weights: bool = False, trial_processes: int = 1, environ: dict[str, str] | None = None) -> None:
    """Receive ``(trial_id, sample)`` messages and answer with started/report/done until told to stop.

    With ``judged`` (the driver runs a scheduler) every report waits for the driver's verdict, a
    bool, before the evaluator goes on: one small round trip per report (reports come per epoch),
    and decisions that depend only on the order in which the driver receives reports. With
    ``keep_weights`` a succeeded trial saves its trained weights in its folder. With
    ``trial_processes`` > 1 the worker is each trial's agent: the trial runs as that many ranks
    (:mod:`archspace.experiment.executors._ranks`), which share the worker's torch threads.
    ``environ`` is the driver's environment when it started the worker; a forked worker would
    otherwise see the fork server's, which is the driver's as it was when the server started.
    """
    die_with_driver(lifeline)
    if environ is not None and environ != os.environ:
        os.environ.clear()
        os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides how to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import torch

    torch.set_num_threads(threads)
    load_source(source)
    packed, evaluator = pickle.loads(payload)
    space = packed.build() if isinstance(packed, SpaceRecipe) else packed
    limit_memory(memory_mb)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        trial_id, sample = message
        conn.send(("started", trial_id))  # the driver starts the trial's clock now, not at submit

        def report(step: int, value: float, trial_id: int = trial_id) -> bool:
            conn.send(("report", trial_id, step, value))
            return bool(conn.recv()) if judged else False

        if trial_processes > 1:
            config = RankConfig(payload, source, [p for p in sys.path if p], directory,
                                max(1, threads // trial_processes), keep_weights, judged, trial_id)
            result = run_ranks(config, sample, report, trial_processes)
        else:
            result = run_trial(space, evaluator, trial_id, sample, report, directory, keep_weights=keep_weights)
        conn.send(("done", result))


__all__ = ["SpaceRecipe", "die_with_driver", "die_with_parent", "limit_memory", "load_source", "pack_space", "worker_main"]
