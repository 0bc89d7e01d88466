"""Module-level evaluators and strategies: spawned worker processes import them by name."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from archspace.evaluate import Evaluator, TrialContext
from archspace.strategy import GridSearch


def x_metric(model: nn.Module, ctx: TrialContext) -> float:
    """The metric is the sample's x (a model was really built)."""
    assert isinstance(model.fc, nn.Linear)
    ctx.report(ctx.sample["x"] / 2, step=1)
    return float(ctx.sample["x"])


def faulty(model: nn.Module, ctx: TrialContext) -> Any:
    """x=1 raises, x=2 kills its own worker, x=3 sleeps past the timeout, x=4 returns NaN,
    x=5 returns a string; others succeed."""
    x = ctx.sample["x"]
    if x == 1:
        raise ValueError("evaluator exploded on purpose")
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    if x == 3:
        time.sleep(60)
    if x == 4:
        return float("nan")
    if x == 5:
        return "high"
    return float(x)


def slow_metric(model: nn.Module, ctx: TrialContext) -> float:
    """Takes a while (0.4 s, or $ARCHSPACE_TEST_SLEEP), so a test can kill the driver mid-run."""
    time.sleep(float(os.environ.get("ARCHSPACE_TEST_SLEEP", "0.4")))
    return float(ctx.sample["x"]) + ctx.sample["hidden"] / 10


def noop(model: nn.Module, ctx: TrialContext) -> float:
    """No work: measures the engine's own overhead."""
    return 0.0


class RecordingGrid(GridSearch):
    """GridSearch that remembers what it was told, in its state (so tests can read the checkpoint)."""

    def _setup(self) -> None:
        super()._setup()
        self.told: list[list[Any]] = []

    def _observe(self, sample: dict[str, Any], result: float | None) -> None:
        self.told.append([sample["x"], result])

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "told": self.told}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        self.told = [list(t) for t in state["told"]]


def numpy_extras(model: nn.Module, ctx: TrialContext) -> dict[str, Any]:
    """A primary metric plus extras in numpy/torch types, and a non-finite value."""
    import numpy as np
    import torch

    return {"default": float(ctx.sample["x"]), "params": np.int64(12), "curve": np.array([0.5, 0.25]),
            "loss": torch.tensor(0.125), "nan": float("nan")}


def unserializable(model: nn.Module, ctx: TrialContext) -> dict[str, Any]:
    """An extra value that is not data at all."""
    return {"default": 1.0, "model": model}


class HangsOnceAtStartup(Evaluator):
    """An evaluator whose unpickling (in a fresh worker) hangs while a marker file exists; the
    first worker removes the marker and hangs, so only that one worker never reports ready."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if os.path.exists(self.marker):
            os.remove(self.marker)
            time.sleep(600)

    def evaluate(self, model: nn.Module, ctx: TrialContext) -> float:
        return float(ctx.sample["x"])


_LEAKED: list[bytearray] = []


def leaky(model: nn.Module, ctx: TrialContext) -> float:
    """Keeps 48 MiB per trial alive in its worker, forever (a leaking evaluator)."""
    _LEAKED.append(bytearray(48 * 2**20))
    return float(ctx.sample["x"])


def worker_pid(model: nn.Module, ctx: TrialContext) -> dict[str, Any]:
    """Reports the pid of the process that ran the trial, after a short pause."""
    time.sleep(0.3)
    return {"default": float(ctx.sample["x"]), "pid": os.getpid()}


def environment_and_parent(model: nn.Module, ctx: TrialContext) -> dict[str, Any]:
    """Reports ``ARCHSPACE_TEST_MARK`` as the worker sees it, and the worker's parent and own pid."""
    return {"default": float(os.environ.get("ARCHSPACE_TEST_MARK", "0")), "ppid": os.getppid(), "pid": os.getpid()}


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name: state, parent pid, ..."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    """The parent pid of ``pid`` (from /proc)."""
    return int(_stat(pid)[1])


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(int(entry))
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def cmdline(pid: int) -> bytes:
    """The command line of ``pid`` (empty once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def workers_of(driver: int) -> list[int]:
    """The process executor's workers of a driver: its children under ``spawn``; under
    ``forkserver`` the fork server's children (the server is the driver's child). The resource
    tracker and the fork server themselves are left out, and so are a worker's own children."""
    found = []
    for pid in children_of(driver):
        command = cmdline(pid)
        if b"resource_tracker" in command:
            continue
        if b"multiprocessing.forkserver" in command:
            found += children_of(pid)
        else:
            found.append(pid)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


def bulky(model: nn.Module, ctx: TrialContext) -> dict[str, Any]:
    """A result with a ~1.5 KB extra holding a marker per trial (fills pages and disks)."""
    return {"default": float(ctx.sample["x"]), "blob": f"marker-{ctx.trial_id:04d}-" + "z" * 1500}


def huge(model: nn.Module, ctx: TrialContext) -> dict[str, Any]:
    """A result with 100 KB of extras: a few of them fill a small disk (in two strings, each under
    the store's 64 KiB cap on one text value, so all of it is written)."""
    return {"default": float(ctx.sample["x"]), "blob": "y" * 50_000, "blob2": "z" * 50_000}
