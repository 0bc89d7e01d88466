"""Joining a Ray cluster started apart (``ray start --head``): trials run on it, the cluster
outlives the driver, and a driver without an address still starts a Ray of its own beside it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archspace.storage import SQLiteStorage

ROOT = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")

DRIVER = """
import logging
import sys
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment
from archspace.experiment.executors.ray import RayExecutor
from archspace.strategy import Random
from archspace.testing import TinySpace
from tests.experiment.ray_helpers import curve

logging.basicConfig(level=logging.INFO)
executor = RayExecutor(concurrency=2, ray_address=None if sys.argv[2] == "none" else sys.argv[2])
experiment = Experiment(TinySpace(), FunctionalEvaluator(curve), Random(dedup=False), max_trials=6, concurrency=2,
                        executor=executor, directory=sys.argv[1], progress=False)
experiment.run()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(address: str, env: dict[str, str]) -> int:
    return subprocess.run([str(RAY), "status", f"--address={address}"], env=env, capture_output=True,
                          timeout=60).returncode


def test_an_experiment_joins_a_running_cluster_and_leaves_it_running(tmp_path: Path) -> None:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # token authentication off on both sides (a test cluster on this machine only)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    # --block: the cluster lives as long as this process; SIGTERM stops exactly this cluster (not
    # `ray stop`, which would stop every Ray on the machine, the other tests' too)
    head = subprocess.Popen([str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
                             "--include-dashboard=false", "--block"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _status(address, env) != 0:
            assert head.poll() is None, f"ray start failed: {head.stderr.read().decode()[-2000:] if head.stderr else ''}"
            assert time.monotonic() < deadline, "the Ray head did not come up within 2 minutes"
            time.sleep(1)
        run = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "run"), address], env=env,
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"joined {address}" in run.stderr  # it joined; it did not start a Ray of its own
        trials = SQLiteStorage(tmp_path / "run" / "experiment.db", read_only=True).trials()
        assert len(trials) == 6 and all(t.status == "succeeded" for t in trials), [t.error for t in trials]
        assert all(t.metric == t.sample["x"] and t.intermediates and t.worker and t.worker.startswith("ray:")
                   for t in trials)
        assert _status(address, env) == 0, "the driver shut down a cluster it had only joined"
        # with that cluster still up, a driver without an address starts a Ray of its own (a bare
        # ray.init() would join the cluster `ray start` left behind, and then refuse num_cpus)
        own = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "own"), "none"], env=env,
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert own.returncode == 0, own.stderr[-3000:]
        assert "started a local Ray with 2 CPU(s)" in own.stderr
        mine = SQLiteStorage(tmp_path / "own" / "experiment.db", read_only=True).trials()
        assert len(mine) == 6 and all(t.status == "succeeded" for t in mine)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck head is killed outright
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
    assert head.returncode is not None  # and the cluster is gone after the test


@pytest.mark.parametrize("address", ["", 5])
def test_a_bad_cluster_address_is_a_clear_error(address: object) -> None:
    from archspace.experiment.executors.ray import RayExecutor, RayExecutorError

    with pytest.raises(RayExecutorError, match="ray_address must be an address string"):
        RayExecutor(ray_address=address)  # type: ignore[arg-type]
