"""What a latency table is measured with: whole networks timed end to end, the machine's
description, a space's fingerprint, and unit kinds."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from archspace.errors import ArchspaceError
from archspace.hardware._timing import INPUT_VARIANTS, make_runner, time_interleaved, timing_context
from archspace.hardware.profile import _shape
from archspace.nn.space import ModelSpace
from archspace.space.samples import Sample


class LatencyTableError(ArchspaceError):
    """A latency table cannot be measured or read as asked."""


class LatencyTableMismatch(LatencyTableError, ValueError):
    """A table measured for another space, input shape, backend, thread count, device or dtype."""


def device_name(device: torch.device) -> str:
    """The processor's model name (``/proc/cpuinfo``), or the CUDA device's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def space_fingerprint(space: ModelSpace) -> dict[str, str]:
    """The class, constructor arguments and a hash of the search space (labels, values, conditions)."""
    args, kwargs = space.__dict__.get("_asp_init_args", ((), {}))
    search = space.search_space()
    text = json.dumps([[label, [json.dumps(v, sort_keys=True) for v in d.values], repr(search.condition(label))]
                       for label, d in search.items()])
    return {"class": f"{type(space).__module__}.{type(space).__qualname__}",
            "args": json.dumps({"args": list(args), "kwargs": kwargs}, sort_keys=True, default=repr),
            "search_space": hashlib.sha256(text.encode()).hexdigest()[:16]}


def versions() -> dict[str, str]:
    out = {"torch": str(torch.__version__)}
    try:
        import onnxruntime  # type: ignore[import-untyped]

        out["onnxruntime"] = str(onnxruntime.__version__)
    except ImportError:
        pass
    return out


def network_runner(space: ModelSpace, sample: Sample, settings: Mapping[str, Any], directory: str) -> Any:
    device, dtype = torch.device(settings["device"]), getattr(torch, settings["dtype"])
    model = space.freeze(sample).to(device=device, dtype=dtype)
    shape = tuple(settings["input_shape"])
    inputs: list[tuple[list[torch.Tensor], dict[str, Any]]] = [
        ([torch.randn(shape, device=device, dtype=dtype)], {}) for _ in range(INPUT_VARIANTS)]
    return make_runner(model, inputs, backend=settings["backend"], device=device, threads=settings["threads"],
                       directory=directory)


def check_timing(repeats: Any, warmup: Any, quantile: Any) -> None:
    """Refuse bad timing settings before anything is timed."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise LatencyTableError(f"repeats must be a positive int, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise LatencyTableError(f"warmup must be an int >= 0, got {warmup!r}")
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0.0 <= quantile <= 1.0:
        raise LatencyTableError(f"quantile must be a number between 0 and 1 (0.5: the median, 0.25: the first "
                                f"quartile, 0: the fastest call), got {quantile!r}")


def measure_networks(space: ModelSpace, samples: Sequence[Mapping[str, Any]], *, input_shape: Sequence[int],
                     device: str = "cpu", backend: str = "torch", threads: int = 1, repeats: int = 20,
                     warmup: int = 5, dtype: torch.dtype = torch.float32, quantile: float = 0.5,
                     pin: bool = True) -> list[float]:
    """End-to-end milliseconds of each sample's whole network, timed in interleaved rounds.

    Each figure is the ``quantile`` of the network's ``repeats`` calls: 0.5 the median; 0 the
    fastest call, the robust choice on a machine other jobs share (their preemptions only add time).
    ``pin``: on the CPU, pin the process to ``threads`` CPUs while timing (steadier figures).
    """
    check_timing(repeats, warmup, quantile)
    settings = {"device": device, "dtype": str(dtype).removeprefix("torch."), "backend": backend,
                "threads": threads, "input_shape": list(_shape(input_shape))}
    with timing_context(backend, threads, pin=pin and torch.device(device).type == "cpu") as tmp:
        runners = [network_runner(space, space.validate(s), settings, tmp) for s in samples]
        return time_interleaved(runners, warmup=warmup, repeats=repeats, quantile=quantile)


class Reading(torch.nn.Module):
    """A unit returning only the outputs a sample reads (for units keyed by their outputs' use)."""

    def __init__(self, module: torch.nn.Module, read: Sequence[int]) -> None:
        super().__init__()
        self.module, self.read = module, list(read)

    def forward(self, *args: Any, **kwargs: Any) -> list[Any]:
        out = list(self.module(*args, **kwargs))
        return [out[i] for i in self.read]


def unit_kind(uid: str) -> str:
    """A unit's kind: the last part of its path that is not a number (a LayerChoice candidate's or
    a Cell op's name, ``blocks`` for a Repeat's blocks, a mutable layer's attribute name)."""
    words = [word for word in uid.split(".") if not word.isdigit()]
    return words[-1] if words else uid


__all__ = ["LatencyTableError", "LatencyTableMismatch", "Reading", "check_timing", "device_name", "network_runner", "versions", "measure_networks", "space_fingerprint", "unit_kind"]
