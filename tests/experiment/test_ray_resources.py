"""A local Ray that archspace starts is refused at once for resources it can never give (no silent
wait behind the autoscaler's lines). Its own module: no Ray may be running in the process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.experiment.executors.ray import RayExecutor, RayExecutorError
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment.ray_helpers import curve


def test_resources_a_local_ray_can_never_give_are_refused_at_start(tmp_path: Path) -> None:
    import ray

    assert not ray.is_initialized()
    began = time.monotonic()
    experiment = Experiment(TinySpace(), FunctionalEvaluator(curve), Random(), max_trials=2, concurrency=2,
                            executor=RayExecutor(2, resources_per_trial={"cpu": 1, "gpu": 64}), directory=tmp_path,
                            progress=False)
    with pytest.raises(RayExecutorError, match=r"64 GPU \(the cluster has [0-8]\) in the local Ray archspace started"):
        experiment.run()
    assert time.monotonic() - began < 120 and not ray.is_initialized()  # refused, and its Ray shut down
