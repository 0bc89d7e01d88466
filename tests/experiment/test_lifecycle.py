"""Worker lifecycle: start-up deadline, recycling, memory limit, dying with the driver, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import archspace as asp
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, ProcessExecutor
from archspace.storage import SQLiteStorage, StorageError
from archspace.strategy import GridSearch
from archspace.testing import TinySpace
from tests.experiment.helpers import HangsOnceAtStartup, alive, children_of, leaky, worker_pid

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("killable.py")


def test_a_worker_hanging_at_startup_is_replaced_and_its_trial_requeued(tmp_path: Path) -> None:
    marker = tmp_path / "hang"
    marker.touch()
    executor = ProcessExecutor(1, startup_timeout=8)
    experiment = Experiment(TinySpace(), HangsOnceAtStartup(str(marker)), GridSearch(), max_trials=3,
                            executor=executor, progress=False)
    trials = experiment.run()
    assert [t.status for t in trials] == ["succeeded"] * 3  # re-queued, not failed
    assert not marker.exists()
    assert {t.worker for t in trials} == {"worker-1"}  # worker-0 hung and was replaced


def test_workers_are_recycled_after_n_trials(tmp_path: Path) -> None:
    executor = ProcessExecutor(1, max_trials_per_worker=2)
    experiment = Experiment(TinySpace(), FunctionalEvaluator(worker_pid), GridSearch(), max_trials=5,
                            executor=executor, progress=False)
    trials = experiment.run()
    assert [t.worker for t in trials] == ["worker-0", "worker-0", "worker-1", "worker-1", "worker-2"]
    pids = [t.metrics["pid"] for t in trials]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


def test_a_leaking_evaluator_does_not_poison_the_pool() -> None:
    # 48 MiB kept per trial under a 160 MiB limit: every 4th trial on a worker runs out of memory.
    executor = ProcessExecutor(1, worker_memory_limit=160)
    experiment = Experiment(TinySpace(), FunctionalEvaluator(leaky), GridSearch(), max_trials=10,
                            executor=executor, progress=False)
    trials = experiment.run()
    failed = [t for t in trials if t.status == "failed"]
    assert failed, "the memory limit was never reached"
    for t in failed:
        first_line = (t.error or "").splitlines()[0]
        assert first_line.startswith("MemoryError: ") and len(first_line) > len("MemoryError: ") + 10
        assert trials[t.id + 1].status == "succeeded" if t.id + 1 < len(trials) else True
    assert sum(t.status == "succeeded" for t in trials) >= 7  # without recycling only the first 3 succeed


def _driver(directory: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(SCRIPT)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _running_workers(driver: subprocess.Popen[bytes], db: Path) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert driver.poll() is None, driver.communicate()
        if _running(db):
            workers = [pid for pid in children_of(driver.pid) if b"resource_tracker" not in _cmdline(pid)]
            if len(workers) >= 2:
                return workers
        time.sleep(0.05)
    raise AssertionError("the driver never had two workers running trials")


def _running(db: Path) -> bool:
    try:
        return bool(SQLiteStorage(db, read_only=True).trials("running"))
    except StorageError:  # not created, or not migrated yet
        return False


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _gone(pids: list[int], limit: float = 10) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_workers_die_with_a_sigkilled_driver(tmp_path: Path) -> None:
    driver = _driver(tmp_path)
    workers = _running_workers(driver, tmp_path / "experiment.db")
    driver.kill()
    driver.communicate(timeout=30)
    assert _gone(workers), [p for p in workers if alive(p)]


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    driver = _driver(tmp_path)
    workers = _running_workers(driver, tmp_path / "experiment.db")
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=30)
    assert driver.returncode == 143 and b"SIGTERM" in err and b"archspace resume" in err
    assert _gone(workers, limit=5)
    statuses = [t.status for t in SQLiteStorage(tmp_path / "experiment.db", read_only=True).trials()]
    assert "running" not in statuses and "interrupted" in statuses


class _ArgSpace(asp.ModelSpace):
    """A space whose constructor takes an argument (picklable or not)."""

    def __init__(self, scale: object = 1) -> None:
        super().__init__()
        self.fc = asp.nn.Linear(4, asp.choice("hidden", [2, 4]))
        self.scale = scale


def test_workers_get_the_space_as_a_recipe_when_it_pickles() -> None:
    import pickle

    from archspace.experiment.executors._worker import SpaceRecipe, pack_space
    from archspace.hub import DartsSpace

    space = DartsSpace.small()
    packed = pack_space(space)
    assert isinstance(packed, SpaceRecipe) and len(pickle.dumps(packed)) < 10_000 < len(pickle.dumps(space))
    rebuilt = pickle.loads(pickle.dumps(packed)).build()
    assert list(rebuilt.search_space()) == list(space.search_space())
    sample = space.random_sample(seed=3)
    assert rebuilt.freeze(sample).state_dict().keys() == space.freeze(sample).state_dict().keys()
    unpicklable = _ArgSpace(scale=lambda: 2)
    assert pack_space(unpicklable) is unpicklable  # falls back to the space itself
    assert isinstance(pack_space(_ArgSpace(scale=3)), SpaceRecipe)
