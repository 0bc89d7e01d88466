"""Worker lifecycle: start-up deadline, recycling, memory limit, dying with the driver, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import archspace as asp
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, ProcessExecutor
from archspace.storage import SQLiteStorage, StorageError
from archspace.strategy import GridSearch
from archspace.testing import TinySpace
from tests.experiment.helpers import (
    HangsOnceAtStartup,
    alive,
    cmdline,
    environment_and_parent,
    leaky,
    parent_of,
    worker_pid,
    workers_of,
)

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


def _driver(directory: Path, start_method: str = "", **extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(directory), "PYTHONPATH": str(ROOT),
           "ARCHSPACE_TEST_START_METHOD": start_method, **extra}
    return subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(SCRIPT)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _running_workers(driver: subprocess.Popen[bytes], db: Path, running: int = 1) -> list[int]:
    """The driver's two workers, once ``running`` trials are running (a trial is "running" once its
    worker said it started it, so with 2 both workers are past their start-up)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert driver.poll() is None, driver.communicate()
        if _running(db) >= running:
            workers = workers_of(driver.pid)
            if len(workers) >= 2:
                return workers
        time.sleep(0.05)
    raise AssertionError(f"the driver never had two workers and {running} trials running")


def _running(db: Path) -> int:
    try:
        return len(SQLiteStorage(db, read_only=True).trials("running"))
    except StorageError:  # not created, or not migrated yet
        return 0


def _gone(pids: list[int], limit: float = 10) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_workers_die_with_a_sigkilled_driver(tmp_path: Path, start_method: str) -> None:
    """Running and stopped workers alike (a stopped forked worker once kept its fork server, and so
    itself, alive after the driver died)."""
    driver = _driver(tmp_path, start_method)
    # both workers past their start-up: one stopped while still importing (before it can arm its
    # guards) would outlive the driver — a window of seconds when spawned, milliseconds when forked
    workers = _running_workers(driver, tmp_path / "experiment.db", running=2)
    forked = [pid for pid in workers if parent_of(pid) != driver.pid]
    assert len(forked) == (len(workers) if start_method == "forkserver" else 0)  # the fork server's children
    os.kill(workers[0], signal.SIGSTOP)  # a stopped worker cannot act on its own: the kernel must end it
    driver.kill()
    driver.communicate(timeout=30)
    assert _gone(workers), [p for p in workers if alive(p)]


def test_a_killed_fork_server_costs_only_the_trials_running_then(tmp_path: Path) -> None:
    """SIGKILL the fork server mid-run: its workers die with it (their parent), the driver fails the
    trials they were running, starts a new server and new workers, and finishes the budget."""
    driver = _driver(tmp_path, "forkserver", ARCHSPACE_TEST_TRIALS="10", ARCHSPACE_TEST_SLEEP="0.6")
    workers = _running_workers(driver, tmp_path / "experiment.db")
    server = parent_of(workers[0])
    assert server != driver.pid and b"multiprocessing.forkserver" in cmdline(server)
    os.kill(server, signal.SIGKILL)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err.decode()[-3000:]
    assert _gone(workers)
    trials = SQLiteStorage(tmp_path / "experiment.db", read_only=True).trials()
    assert len(trials) == 10 and all(t.finished for t in trials)
    failed = [t for t in trials if t.status != "succeeded"]
    assert 1 <= len(failed) <= 2 and all("fork server" in (t.error or "") for t in failed), \
        [(t.status, t.error) for t in failed]


def test_a_forked_worker_sees_the_drivers_environment_as_it_is_when_the_worker_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server keeps the environment it was started with; each worker gets the driver's."""
    runs = []
    for mark in ("1", "2"):  # the first run starts the fork server (if no earlier test did)
        monkeypatch.setenv("ARCHSPACE_TEST_MARK", mark)
        experiment = Experiment(TinySpace(), FunctionalEvaluator(environment_and_parent), GridSearch(), max_trials=2,
                                executor=ProcessExecutor(1, start_method="forkserver"), progress=False)
        runs.append(experiment.run())
    assert [[t.metric for t in trials] for trials in runs] == [[1.0, 1.0], [2.0, 2.0]]
    parents = {t.metrics["ppid"] for trials in runs for t in trials}
    assert len(parents) == 1 and os.getpid() not in parents  # one fork server, the parent of every worker
    assert len({t.metrics["pid"] for trials in runs for t in trials}) == 2  # a worker per experiment
    import multiprocessing.forkserver

    preload = multiprocessing.forkserver._forkserver._preload_modules  # what the server imports once
    assert "torch" in preload and "__main__" not in preload  # not the driver's script: see the next test


def test_a_changed_import_time_variable_makes_the_next_workers_spawned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server's torch was imported under the environment it started with: after a variable
    read then (CUDA_*, OMP_*, TORCH_*, ...) changes, workers are spawned; once it is back, forked."""
    def run() -> float:
        experiment = Experiment(TinySpace(), FunctionalEvaluator(environment_and_parent), GridSearch(), max_trials=1,
                                executor=ProcessExecutor(1, start_method="forkserver"), progress=False)
        return float(experiment.run()[0].metrics["ppid"])

    assert run() != os.getpid()  # forked: the fork server's child
    with monkeypatch.context() as patch:
        patch.setenv("TORCH_ARCHSPACE_TEST", str(time.time()))
        assert run() == os.getpid()  # spawned: the driver's own child
    assert run() != os.getpid()


@pytest.mark.parametrize("method", ["fork", "thread", ""])
def test_an_unknown_start_method_is_refused_with_the_allowed_ones(method: str) -> None:
    with pytest.raises(ValueError, match="start_method must be one of forkserver, spawn") as info:
        ProcessExecutor(1, start_method=method)
    assert ("can hang" in str(info.value)) == (method == "fork")


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


MAIN_SCRIPT = '''
import json, os, sys
sys.path.insert(0, {root!r})
with open({log!r}, "a") as log:  # every process that imports this script says so
    log.write(f"{{os.getpid()}} {{os.getppid()}}\\n")
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, ProcessExecutor
from archspace.strategy import GridSearch
from archspace.testing import TinySpace
from tests.experiment.helpers import environment_and_parent

if __name__ == "__main__":
    experiment = Experiment(TinySpace(), FunctionalEvaluator(environment_and_parent), GridSearch(), max_trials=3,
                            executor=ProcessExecutor(1, start_method="forkserver", max_trials_per_worker=1),
                            progress=False)
    print(json.dumps([[t.metrics["pid"], t.metrics["ppid"]] for t in experiment.run()]))
'''


def test_the_fork_server_does_not_run_the_drivers_main_script(tmp_path: Path) -> None:
    """A script's module-level code (``torch.cuda.is_available()`` is common) must not run in the fork
    server, where initialising CUDA would break CUDA in every worker forked from it; each worker
    imports the script itself, as a spawned one does. (Python 3.11's fork server never imports the
    main script, whatever its preload list says — it looks for a key its caller does not set — so
    here the test above checks the list; since CPython gh-126631, in 3.13 and later, it does.)"""
    log = tmp_path / "imports.log"
    script = tmp_path / "search.py"
    script.write_text(MAIN_SCRIPT.format(root=str(ROOT), log=str(log)))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    workers = json.loads(done.stdout.strip().splitlines()[-1])
    (driver, _), *others = [tuple(map(int, line.split())) for line in log.read_text().splitlines()]
    servers = {ppid for _, ppid in workers}
    assert len(servers) == 1 and servers.isdisjoint(pid for pid, _ in others)  # the fork server never imported it
    assert {pid for pid, _ in workers} <= {pid for pid, _ in others}  # each worker did, itself
    # (a fourth worker, started as the third was recycled and stopped at the end, may have too)
    assert all(parent in servers for _, parent in others) and driver not in servers


COPY_SCRIPT = '''
import sys
sys.path.insert(0, {copy!r})  # a checkout the driver uses, not the installed package
import archspace
from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import Experiment, ProcessExecutor
from archspace.strategy import GridSearch
from archspace.testing import TinySpace


def where(model, ctx):
    import archspace.experiment.executors._worker as worker
    return {{"default": 0.0, "file": worker.__file__}}


if __name__ == "__main__":
    print(archspace.__file__)
    for method in ("forkserver", "spawn"):
        trials = Experiment(TinySpace(), FunctionalEvaluator(where), GridSearch(), max_trials=1,
                            executor=ProcessExecutor(1, start_method=method), progress=False).run()
        print(trials[0].metrics["file"])
'''


def test_forked_workers_run_the_package_copy_the_driver_imported(tmp_path: Path) -> None:
    """Python 3.11's fork server ignores the driver's sys.path; it is started with it as PYTHONPATH,
    so a driver that put another copy of archspace first does not fork workers running the installed one."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "archspace", copy / "archspace", ignore=shutil.ignore_patterns("__pycache__"))
    script = tmp_path / "drive.py"
    script.write_text(COPY_SCRIPT.format(copy=str(copy)))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr[-3000:]
    driver, forked, spawned = done.stdout.strip().splitlines()[-3:]
    assert driver.startswith(str(copy)) and forked.startswith(str(copy)) and spawned.startswith(str(copy))
