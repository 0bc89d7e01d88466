"""What runs on Ray's side of the Ray executor: the trial task and the payload unpacking, plus the
checks of the resources a trial asks for (see :mod:`.ray`; the inbox actor is in :mod:`._ray_inbox`)."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from numbers import Real
from typing import Any

from archspace.errors import ArchspaceError
from archspace.evaluate.base import Evaluator
from archspace.experiment.executors._ranks import RankConfig, run_ranks
from archspace.experiment.executors._worker import SpaceRecipe, load_source
from archspace.experiment.runner import Finished, run_trial
from archspace.experiment.source import RunSource

RESOURCE_KEYS = ("cpu", "gpu", "memory")
BELL_SECONDS = 5.0  # how long one wait on the inbox lasts before the driver asks again


class RayExecutorError(ArchspaceError, ValueError):
    """A Ray executor setting has the wrong type or value."""


class RayNotInstalledError(ArchspaceError, ImportError):
    """``executor="ray"`` was asked for, but Ray cannot be imported."""


def check_resources(resources: Any) -> dict[str, float]:
    """``resources_per_trial`` checked and completed with the defaults (1 CPU, no GPU)."""
    if resources is None:
        return {"cpu": 1.0, "gpu": 0.0}
    if not isinstance(resources, dict):
        raise RayExecutorError(f"resources_per_trial must be a mapping such as {{'cpu': 1, 'gpu': 0.5}}, "
                               f"got {resources!r} ({type(resources).__name__})")
    unknown = sorted(str(k) for k in resources if k not in RESOURCE_KEYS)
    if unknown:
        raise RayExecutorError(f"resources_per_trial has unknown key(s) {unknown}; allowed keys: {list(RESOURCE_KEYS)}")
    checked = {"cpu": 1.0, "gpu": 0.0}
    for key, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
            raise RayExecutorError(f"resources_per_trial[{key!r}] must be a number >= 0, got {value!r}")
        checked[key] = float(value)
    if checked["cpu"] <= 0 and checked["gpu"] <= 0:
        raise RayExecutorError("resources_per_trial must ask for some CPU or GPU (cpu > 0 or gpu > 0), "
                               f"got {resources!r}")
    if checked["gpu"] > 1 and not checked["gpu"].is_integer():
        raise RayExecutorError(f"resources_per_trial['gpu'] must be a fraction <= 1 or a whole number of GPUs, "
                               f"got {resources['gpu']!r}")
    return checked


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalledError(f"executor 'ray' needs Ray: pip install 'archspace[ray]' ({exc})") from None
    return ray


UNPACKED: dict[str, tuple[Any, Evaluator]] = {}  # per Ray worker process: payload token -> (space, evaluator)


def unpack(token: str, payload: list[Any], source: RunSource | None, paths: list[str]) -> tuple[Any, Evaluator]:
    """The space and evaluator of this experiment, unpacked once per worker process."""
    if token not in UNPACKED:
        import ray
        from ray import cloudpickle

        for path in paths:  # the driver's import paths, where they exist here (a local Ray: all of them)
            if path and path not in sys.path and os.path.isdir(path):
                sys.path.append(path)
        load_source(source)
        packed, evaluator = cloudpickle.loads(ray.get(payload[0]))
        UNPACKED.clear()  # one experiment at a time per worker: drop an earlier one's space
        UNPACKED[token] = (packed.build() if isinstance(packed, SpaceRecipe) else packed, evaluator)
    return UNPACKED[token]


def trial_task(token: str, payload: list[Any], source: RunSource | None, paths: list[str], threads: int,
                directory: str | None, inbox: Any, judged: bool, trial_id: int, attempt: int,
                sample: dict[str, Any], keep_weights: bool = False, trial_processes: int = 1) -> Finished:
    """One trial on a Ray worker (``payload`` is a one-item list so Ray does not fetch it every time);
    with ``trial_processes`` > 1 the task is the agent of the trial's ranks (see ``_ranks``)."""
    import ray
    import torch

    space, evaluator = unpack(token, payload, source, paths)
    torch.set_num_threads(threads)
    ray.get(inbox.started.remote(trial_id, attempt, f"ray:{ray.util.get_node_ip_address()}:{os.getpid()}"))
    seq = iter(range(1 << 62))

    def report(step: int, value: float) -> bool:  # True: the driver stopped the trial (ctx raises TrialPruned)
        return bool(ray.get(inbox.report.remote(trial_id, attempt, next(seq), step, value, judged)))

    if trial_processes > 1:
        config = RankConfig(ray.get(payload[0]), source, [p for p in sys.path if p], directory,
                            max(1, threads), keep_weights, judged, trial_id)
        return run_ranks(config, sample, report, trial_processes)
    return run_trial(space, evaluator, trial_id, sample, report, directory, keep_weights=keep_weights)


@dataclass
class RayTrial:
    sample: dict[str, Any]
    ref: Any
    attempt: int = 0
    started: float | None = None  # when its task said it started (the timeout clock)
    worker: str | None = None
    last_value: float | None = None
    judged: bool = False

