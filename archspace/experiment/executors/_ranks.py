"""Trials that run as several processes (``Experiment(..., trial_processes=N)``): ranks as torchrun starts them.

The executor's worker (a process-pool worker, or a Ray task) becomes the trial's *agent*, as
``torchrun``'s agent is: it starts N rank processes (``python -c``
:data:`RANK_COMMAND`) with the environment torchrun sets (``MASTER_ADDR``,
``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``,
``TORCHELASTIC_RUN_ID``), each in a process group of its own. Every rank joins one
``torch.distributed`` process group (env rendezvous; NCCL where CUDA is present, each rank on GPU
``LOCAL_RANK``; gloo otherwise) before the evaluator runs, so an evaluator written for torchrun
(DDP, Lightning's ``strategy="ddp"``) runs unchanged.

The sample: only rank 0 gets it from the agent; it broadcasts it to the other ranks, so every rank
freezes the same architecture (nothing is ever sampled per rank), under the same seed (the trial
id), so all start from the same weights.

Reports: rank 0's value goes to the driver. With a scheduler, the verdict rank 0 gets back is
broadcast to every rank inside ``ctx.report``, so all ranks stop at the same report (every rank
must therefore call ``ctx.report`` at the same points, as SPMD code does). The trial's result is
rank 0's; only rank 0 keeps weights.

Faults: a rank that dies (a signal, an exit) or raises fails the trial, and the reason names the
rank that failed first (a rank whose collective broke because a peer died is not blamed while the
peer's death explains it). Every rank is then killed with its whole process group, so nothing is
left behind; the agent goes on to its next trial. An agent that is itself killed (the trial's
timeout, a lost Ray worker) takes its ranks with it: each rank dies with its parent
(``PR_SET_PDEATHSIG`` on Linux, and a watcher thread everywhere).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from archspace.experiment.executors.base import killed_by
from archspace.experiment.runner import Finished
from archspace.experiment.source import RunSource
from archspace.storage.base import TrialStatus

logger = logging.getLogger("archspace.experiment")

#: Seconds the other ranks may take to end once rank 0 has returned its result.
FINISH_GRACE = 60.0
#: Seconds the agent waits, after a rank failed, for the others to fail too (to name the first cause).
FAILURE_GRACE = 2.0
#: What a rank process runs (``python -c``), as torchrun runs a script.
RANK_COMMAND = "from archspace.experiment.executors._rank_main import rank_main; rank_main()"
#: Exception names (and message fragments) of a collective that broke because a peer went away.
_CONSEQUENCES = ("DistBackendError", "DistNetworkError", "DistError", "DistStoreError")
_PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "gloo", "NCCL", "Broken pipe",
              "connection refused", "timed out")


@dataclass
class RankConfig:
    """What every rank gets from its agent before the process group is set up."""

    payload: bytes
    source: RunSource | None
    paths: list[str]
    directory: str | None
    threads: int
    keep_weights: bool
    judged: bool
    trial_id: int


@dataclass
class _Rank:
    rank: int
    process: subprocess.Popen[bytes]
    conn: Connection
    result: Finished | None = None
    ended: float | None = None  # when the agent saw it end (result, or death), for the first cause
    closed: bool = False


@dataclass
class _Failure:
    rank: int
    seen: float
    reason: str
    exception: str | None = None
    primary: bool = True
    others: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rank_env(rank: int, processes: int, port: int, trial_id: int, fd: int) -> dict[str, str]:
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    env.update({
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": str(processes),
        "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(processes), "GROUP_RANK": "0", "ROLE_RANK": str(rank),
        "ROLE_WORLD_SIZE": str(processes), "GROUP_WORLD_SIZE": "1", "TORCHELASTIC_RUN_ID": f"archspace-trial-{trial_id}",
        "ARCHSPACE_RANK_FD": str(fd), "ARCHSPACE_RANK_PARENT": str(os.getpid()),
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
    })
    return env


def _death(rank: _Rank, processes: int) -> str:
    code = rank.process.returncode
    how = killed_by(code) or f"exited with code {code} before returning a result"
    return f"rank {rank.rank} of {processes} (pid {rank.process.pid}) {how}"


def _is_consequence(result: Finished) -> bool:
    """Whether a rank's failure looks like a broken collective (a peer went away), not a cause."""
    if result.exception in _CONSEQUENCES:
        return True
    first = (result.error or "").split("\n", 1)[0]
    return result.exception == "RuntimeError" and any(text.lower() in first.lower() for text in _PEER_GONE)


def _kill_all(ranks: list[_Rank]) -> None:
    """SIGKILL every rank's process group (the rank and whatever it started), then reap them."""
    for rank in ranks:
        try:
            os.killpg(rank.process.pid, signal.SIGKILL)  # its own group: start_new_session
        except (ProcessLookupError, PermissionError):
            pass
    for rank in ranks:
        try:
            rank.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process SIGKILL cannot end
            pass
        rank.conn.close()


def run_ranks(config: RankConfig, sample: dict[str, Any], report: Callable[[int, float], bool | None],
              processes: int) -> Finished:
    """Run one trial as ``processes`` ranks (see the module docstring) and return its end.

    ``report(step, value)`` is the agent's channel to the driver (rank 0's reports only); its
    answer (True: stop) goes back to rank 0, which shares it with the other ranks.
    """
    trial_id = config.trial_id
    port = _free_port()
    ranks: list[_Rank] = []
    try:
        for index in range(processes):
            ours, theirs = socket.socketpair()
            env = _rank_env(index, processes, port, trial_id, theirs.fileno())
            process = subprocess.Popen([sys.executable, "-c", RANK_COMMAND], env=env,
                                       pass_fds=(theirs.fileno(),), start_new_session=True, stdin=subprocess.DEVNULL)
            theirs.close()
            ranks.append(_Rank(index, process, Connection(ours.detach())))
        # all ranks start (import torch) at once; each reads its settings once it has
        for rank in ranks:
            _send(rank, config)
        _send(ranks[0], sample)  # rank 0 reads the sample; it broadcasts it to the others
        return _supervise(ranks, report, processes, trial_id)
    finally:
        _kill_all(ranks)


def _send(rank: _Rank, message: Any) -> None:
    """Send ``rank`` a message; a rank already gone is noticed (and blamed) by the supervision loop."""
    try:
        rank.conn.send(message)
    except OSError:
        rank.closed = True


def _receive(rank: _Rank, report: Callable[[int, float], bool | None]) -> None:
    """Handle one message from ``rank`` (a report of rank 0's, or a rank's result); EOF closes it."""
    try:
        message = rank.conn.recv()
    except (EOFError, OSError):
        rank.closed = True
        return
    if message[0] == "report" and rank.rank == 0:
        _, step, value, judged = message
        stop = bool(report(step, value))
        if judged:
            try:
                rank.conn.send(stop)
            except OSError:  # rank 0 is gone: the supervision loop notices
                pass
    elif message[0] == "done":
        rank.result = message[1]
        rank.ended = time.monotonic()


def _supervise(ranks: list[_Rank], report: Callable[[int, float], bool | None], processes: int,
               trial_id: int) -> Finished:
    first_failure: float | None = None
    rank0_done: float | None = None
    while True:
        open_conns = [r.conn for r in ranks if not r.closed]
        ready = wait(open_conns, 0.2) if open_conns else []
        for rank in ranks:
            if rank.conn in ready:
                _receive(rank, report)
        now = time.monotonic()
        for rank in ranks:
            if rank.result is None and rank.ended is None and rank.process.poll() is not None:
                # what it sent before it ended, if anything (poll first: a child of the rank may hold its socket open)
                while not rank.closed and rank.result is None and rank.conn.poll(0.05):
                    _receive(rank, report)
                if rank.ended is None:
                    rank.ended = now
        failed = [r for r in ranks if r.ended is not None and (r.result is None or r.result.status is TrialStatus.FAILED)]
        if failed and first_failure is None:
            first_failure = now
        if first_failure is not None:
            settled = all(r.ended is not None for r in ranks)
            if settled or now - first_failure >= FAILURE_GRACE:
                return _failure(ranks, processes, trial_id)
            continue
        if ranks[0].result is not None and rank0_done is None:
            rank0_done = now
        if all(r.result is not None for r in ranks):
            result = ranks[0].result
            assert result is not None
            return result
        if rank0_done is not None and now - rank0_done >= FINISH_GRACE:
            result = ranks[0].result
            assert result is not None
            late = [r.rank for r in ranks if r.result is None]
            if result.status is TrialStatus.SUCCEEDED:
                logger.warning(
                    "trial %d: rank(s) %s had not ended %.0f s after rank 0 returned its result; killed",
                    trial_id, late, FINISH_GRACE)
            return result


def _failure(ranks: list[_Rank], processes: int, trial_id: int) -> Finished:
    """The trial's failure, blaming the rank that failed first for a reason of its own."""
    failures: list[_Failure] = []
    for rank in ranks:
        if rank.ended is None:
            continue
        if rank.result is None:
            failures.append(_Failure(rank.rank, rank.ended, _death(rank, processes)))
        elif rank.result.status is TrialStatus.FAILED:
            failures.append(_Failure(rank.rank, rank.ended,
                                     f"rank {rank.rank} of {processes} (pid {rank.process.pid}) failed: "
                                     f"{rank.result.error or 'no reason given'}",
                                     rank.result.exception, primary=not _is_consequence(rank.result)))
    # a rank that died explains the broken collectives of the others; then a rank's own error
    # before one that only reports a broken collective; earliest first
    failures.sort(key=lambda f: (f.exception is not None, not f.primary, f.seen, f.rank))
    cause = failures[0]
    others = [f for f in failures if f is not cause]
    error = cause.reason
    if others:
        lines = "; ".join(f.reason.split("\n", 1)[0][:300] for f in others)
        error = f"{error}\n\nthen, on the other ranks: {lines}"
    return Finished(trial_id, TrialStatus.FAILED, error=error, exception=cause.exception)


__all__ = ["FAILURE_GRACE", "FINISH_GRACE", "RANK_COMMAND", "RankConfig", "run_ranks"]
