"""Timing modules the same way everywhere: warm-up, a fixed thread count, interleaved rounds, medians.

A latency table is only as good as its clock. Everything here runs in eval mode without
gradients, synchronises CUDA before reading the clock, and times all the things to compare in
interleaved rounds (a, b, c, a, b, c, ...), so that a busy moment on a shared machine spreads over
all of them instead of inflating one; each figure is the median of its calls (or another quantile).

On the CPU the timing process is pinned to ``threads`` CPUs for the block (restored after): a
single-threaded process that the scheduler moves between cores starts each time with cold caches,
which made the same network's median differ by 10 % between two measurements on a 2-core machine;
pinned, repeated measurements agree within 2 %.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from archspace._threads import torch_threads
from archspace.errors import ArchspaceError
from archspace.hardware._decompose import eval_mode, flat_tensors

Runner = Callable[[], object]
BACKENDS = ("torch", "onnxruntime")


class _Flat(nn.Module):
    """Calls a module with arguments rebuilt from flat tensors, so ONNX sees one input per tensor."""

    def __init__(self, module: nn.Module, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.module = module
        self.structure = (list(args), dict(kwargs))

    def _rebuild(self, value: Any, tensors: Iterator[torch.Tensor]) -> Any:
        if isinstance(value, torch.Tensor):
            return next(tensors)
        if isinstance(value, (list, tuple)):
            items = [self._rebuild(v, tensors) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            return {k: self._rebuild(v, tensors) for k, v in value.items()}
        return value

    def forward(self, *tensors: torch.Tensor) -> Any:
        args, kwargs = self._rebuild(self.structure, iter(tensors))
        return self.module(*args, **kwargs)


Inputs = Sequence[tuple[Sequence[Any], dict[str, Any]]]
#: Distinct inputs each module is timed on, in turn. Timing one input over and over lets the
#: processor's branch predictor learn that input's data-dependent branches: a 3x3 max pool on
#: 8x32x32 took 85 us on one repeated input, 145 us alternating two, 195 us rotating four or
#: more, and 150-200 us inside a network. Rotating fresh inputs times what a deployed network
#: (new data every call) pays.
INPUT_VARIANTS = 8


def torch_runner(module: nn.Module, inputs: Inputs, device: torch.device) -> Runner:
    """A callable running ``module`` once per call on the next of ``inputs`` (eval mode, no
    gradients, CUDA synchronised)."""
    eval_mode(module)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    state = {"i": 0}
    count = len(inputs)

    def run() -> object:
        args, kwargs = inputs[state["i"]]
        state["i"] = (state["i"] + 1) % count
        with torch.no_grad():
            out = module(*args, **kwargs)
        if sync is not None:
            sync()
        return out

    return run


def onnx_runner(module: nn.Module, inputs: Inputs, threads: int, directory: str) -> Runner:
    """A callable running ``module`` exported to ONNX in an ONNX Runtime session with ``threads``
    threads, once per call on the next of ``inputs``."""
    from archspace.hardware.onnx import export_onnx, onnx_session

    args, kwargs = inputs[0]
    tensors = flat_tensors([list(args), dict(kwargs)])
    flat = _Flat(module, args, kwargs)
    eval_mode(flat)
    fd, path = tempfile.mkstemp(suffix=".onnx", dir=directory)
    os.close(fd)
    export_onnx(flat, path, tuple(t.detach().cpu().float() for t in tensors), dynamic_batch=False, check=False)
    session = onnx_session(path, threads=threads)
    # export_onnx names the inputs "input" (one) or "input_0", "input_1", ...; the exporter drops
    # those the graph does not read (a Cell preprocessor's input whose state nobody takes).
    exported = ["input"] if len(tensors) == 1 else [f"input_{i}" for i in range(len(tensors))]
    read = {i.name for i in session.get_inputs()}
    feeds = []
    for variant_args, variant_kwargs in inputs:
        variant = flat_tensors([list(variant_args), dict(variant_kwargs)])
        feeds.append({name: t.detach().cpu().float().numpy() for name, t in zip(exported, variant) if name in read})
    state = {"i": 0}
    count = len(feeds)

    def run() -> object:
        feed = feeds[state["i"]]
        state["i"] = (state["i"] + 1) % count
        return session.run(None, feed)

    return run


def time_interleaved(runners: Sequence[Runner], *, warmup: int, repeats: int, rounds: int = 3,
                     quantile: float = 0.5) -> list[float]:
    """Milliseconds per call of each runner (the ``quantile`` of its calls: 0.5 the median, 0 the fastest),
    timed in ``rounds`` interleaved rounds."""
    for run in runners:
        for _ in range(warmup):
            run()
    per_round = max(1, -(-repeats // rounds))
    times: list[list[float]] = [[] for _ in runners]
    clock = time.perf_counter
    for _ in range(rounds):
        for i, run in enumerate(runners):
            for _ in range(per_round):
                start = clock()
                run()
                times[i].append((clock() - start) * 1000.0)
    if not 0.0 <= quantile <= 1.0:
        raise ArchspaceError(f"quantile must be between 0 and 1 (0.5: the median), got {quantile!r}")
    return [float(np.quantile(t, quantile)) for t in times]


@contextlib.contextmanager
def pinned(threads: int, enabled: bool = True) -> Iterator[set[int] | None]:
    """Pin this process to ``threads`` of the CPUs it may use (the last ones) for the block, then
    restore its affinity. Yields the CPUs, or None where affinity cannot be set (not Linux) or
    ``enabled`` is false."""
    getter, setter = getattr(os, "sched_getaffinity", None), getattr(os, "sched_setaffinity", None)
    if not enabled or getter is None or setter is None:
        yield None
        return
    before = set(getter(0))
    chosen = set(sorted(before)[-max(1, min(threads, len(before))):])
    try:
        setter(0, chosen)
    except OSError:
        yield None
        return
    try:
        yield chosen
    finally:
        setter(0, before)


@contextlib.contextmanager
def timing_context(backend: str, threads: int, *, pin: bool = False) -> Iterator[str]:
    """Fixed torch threads, a temporary folder for ONNX files and, with ``pin``, the process pinned
    to ``threads`` CPUs, for the block."""
    if backend not in BACKENDS:
        raise ArchspaceError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    with torch_threads(threads, "latency measurement"), pinned(threads, pin), \
            tempfile.TemporaryDirectory(prefix="archspace-latency-") as tmp:
        yield tmp


def make_runner(module: nn.Module, inputs: Inputs, *, backend: str, device: torch.device, threads: int,
                directory: str) -> Runner:
    """The runner of ``backend`` for one module, cycling through ``inputs`` (``(args, kwargs)`` pairs)."""
    if not inputs:
        raise ArchspaceError("make_runner needs at least one input")
    if backend == "torch":
        return torch_runner(module, inputs, device)
    if device.type != "cpu":
        raise ArchspaceError(f"the onnxruntime backend times on the CPU; got device={str(device)!r}")
    return onnx_runner(module, inputs, threads, directory)


__all__ = ["BACKENDS", "INPUT_VARIANTS", "Inputs", "Runner", "make_runner", "onnx_runner", "pinned", "time_interleaved", "timing_context", "torch_runner"]
