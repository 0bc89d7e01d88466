"""The engine's promises on paths the main tests do not walk: configs through the process pool,
one driver per experiment, read-only readers, changed source files, unsafe checkpoints, damaged
databases, full and read-only disks, a deleted WAL file."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from archspace.evaluate import FunctionalEvaluator
from archspace.experiment import DirectoryLock, Experiment, ExperimentError, ExperimentLockedError
from archspace.storage import SQLiteStorage, StorageError
from archspace.strategy import GridSearch, Random
from archspace.testing import TinySpace
from tests.experiment.conftest import remount_read_only
from tests.experiment.helpers import bulky, huge, x_metric

ROOT = Path(__file__).resolve().parents[2]
KILLABLE = Path(__file__).with_name("killable.py")


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archspace.cli.main", *args], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True,
                          timeout=300)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def succeeded(db: Path) -> list[tuple[int, float]]:
    try:
        return [(t.id, t.metric) for t in SQLiteStorage(db, read_only=True).trials("succeeded")]  # type: ignore[misc]
    except StorageError:
        return []


def running(db: Path) -> bool:
    try:
        return bool(SQLiteStorage(db, read_only=True).trials("running"))
    except StorageError:
        return False


def start_driver(directory: Path, trials: int = 12, sleep: float = 0.4) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(directory), "PYTHONPATH": str(ROOT),
           "ARCHSPACE_TEST_TRIALS": str(trials), "ARCHSPACE_TEST_SLEEP": str(sleep)}
    return subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(KILLABLE)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(db: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while len(succeeded(db)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)


# 1. configs with the default (process) executor --------------------------------------------------
def test_a_yaml_config_runs_on_the_process_pool(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(
        "space: archspace.testing.spaces:ExampleNet\n"
        "strategy: {name: grid, shuffle: true}\n"
        "evaluator: {name: classification, data: digits, epochs: 1}\n"
        "experiment: {max_trials: 3, concurrency: 2, directory: out, progress: false}\n"
    )
    done = cli(["run", "exp.yaml"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 trials, 3 succeeded" in done.stdout
    workers = {t.worker for t in SQLiteStorage(tmp_path / "out" / "experiment.db", read_only=True).trials()}
    assert workers <= {"worker-0", "worker-1"} and workers  # really ran in worker processes


def test_a_toml_config_with_executor_options(tmp_path: Path) -> None:
    (tmp_path / "exp.toml").write_text(
        'space = "archspace.testing.spaces:ExampleNet"\n'
        'strategy = "random"\n'
        '[evaluator]\nname = "classification"\ndata = "digits"\nepochs = 1\n'
        '[experiment]\nmax_trials = 3\ndirectory = "out"\nprogress = false\n'
        '[experiment.executor]\nname = "process"\nmax_trials_per_worker = 1\nstart_method = "spawn"\n'
    )
    done = cli(["run", "exp.toml"], tmp_path)
    assert done.returncode == 0, done.stderr
    workers = [t.worker for t in SQLiteStorage(tmp_path / "out" / "experiment.db", read_only=True).trials()]
    assert workers == ["worker-0", "worker-1", "worker-2"]  # recycled after every trial
    (tmp_path / "bad.toml").write_text((tmp_path / "exp.toml").read_text().replace('"spawn"', '"fork"'))
    done = cli(["run", "bad.toml"], tmp_path)
    assert done.returncode != 0 and "start_method must be one of forkserver, spawn, got 'fork'" in done.stderr


# 2. one driver per experiment, lock-free readers ---------------------------------------------------
def test_a_second_driver_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    lock = DirectoryLock(tmp_path)
    lock.acquire()
    try:
        experiment = Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=2,
                                executor="inline", directory=tmp_path, progress=False)
        with pytest.raises(ExperimentLockedError, match=f"pid {os.getpid()}"):
            experiment.run()
        assert not (tmp_path / "experiment.db").exists()  # refused before touching the store
    finally:
        lock.release()
    assert len(experiment.run()) == 2  # free again


def test_resume_while_a_driver_runs_is_refused_and_readers_work(tmp_path: Path) -> None:
    db = tmp_path / "experiment.db"
    driver = start_driver(tmp_path, trials=14, sleep=120)  # trials outlast the checks, however loaded
    try:
        deadline = time.monotonic() + 90
        while not running(db):
            assert driver.poll() is None and time.monotonic() < deadline, "the driver never started a trial"
            time.sleep(0.05)
        second = cli(["resume", str(tmp_path)], ROOT)
        assert second.returncode == 2 and f"pid {driver.pid}" in second.stderr, second.stderr
        listing = cli(["trials", str(tmp_path)], ROOT)  # no lock needed to read
        assert listing.returncode == 0 and " running " in listing.stdout
        doctor = cli(["doctor", str(tmp_path)], ROOT)
        assert f"pid {driver.pid}" in doctor.stdout
    finally:
        driver.kill()
        driver.communicate()
    resumed = cli(["resume", str(tmp_path)], ROOT, ARCHSPACE_TEST_TRIALS="14",  # the OS dropped the lock
                  ARCHSPACE_TEST_SLEEP="0.05")
    assert resumed.returncode == 0 and "14 trials, 14 succeeded" in resumed.stdout, resumed.stderr


def test_two_drivers_started_together_run_the_budget_once(tmp_path: Path) -> None:
    first, second = start_driver(tmp_path), start_driver(tmp_path)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 2], outs
    loser_err = outs[[first.returncode, second.returncode].index(2)][1]
    assert b"already being run by another driver" in loser_err
    trials = SQLiteStorage(tmp_path / "experiment.db", read_only=True).trials()
    assert [t.id for t in trials] == list(range(12)) and all(t.status == "succeeded" for t in trials)


def test_readers_work_on_a_read_only_copy_and_change_nothing(tmp_path: Path, tmpfs: Any) -> None:
    run = Experiment(TinySpace(), FunctionalEvaluator(x_metric), GridSearch(), max_trials=4, executor="inline",
                     directory=tmp_path / "run", progress=False)
    run.run()
    wal = tmp_path / "run" / "experiment.db-wal"  # a stopped driver leaves the main file self-contained
    assert not wal.exists() or wal.stat().st_size == 0
    best = run.best(1)[0].sample
    copy = tmpfs("4m")
    (copy / "run").mkdir()
    (copy / "run" / "experiment.db").write_bytes((tmp_path / "run" / "experiment.db").read_bytes())
    remount_read_only(copy)
    before = digest(copy / "run" / "experiment.db")
    listing = cli(["trials", str(copy / "run")], ROOT)
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 5, listing.stderr
    exported = cli(["export", str(copy / "run"), "-o", str(tmp_path / "best.json")], ROOT)
    assert exported.returncode == 0 and json.loads((tmp_path / "best.json").read_text())["sample"] == best
    assert cli(["doctor", str(copy / "run")], ROOT).returncode == 0
    assert digest(copy / "run" / "experiment.db") == before
    assert sorted(os.listdir(copy / "run")) == ["experiment.db"]
    # and a run into a read-only directory is a named error, not a traceback
    refused = Experiment(TinySpace(), FunctionalEvaluator(x_metric), Random(), max_trials=1, executor="inline",
                         directory=copy / "new", progress=False)
    with pytest.raises(ExperimentError, match="Read-only file system.*writable directory"):
        refused.run()


# 3. resume imports a file: only the one the run started from ---------------------------------------
def test_resume_refuses_a_changed_or_missing_source(tmp_path: Path) -> None:
    source = tmp_path / "exp.py"
    source.write_text(
        "from archspace.evaluate import FunctionalEvaluator\n"
        "from archspace.experiment import Experiment\n"
        "from archspace.strategy import GridSearch\n"
        "from archspace.testing import TinySpace\n"
        "def metric(model, ctx):\n"
        "    return float(ctx.sample['x'])\n"
        "experiment = Experiment(TinySpace(), FunctionalEvaluator(metric), GridSearch(), max_trials=2,\n"
        "                        executor='inline', directory='out', progress=False)\n"
    )
    assert cli(["run", "exp.py"], tmp_path).returncode == 0
    source.write_text(source.read_text().replace("max_trials=2", "max_trials=3"))
    changed = cli(["resume", "out"], tmp_path)
    assert changed.returncode == 2 and "changed since" in changed.stderr and "--trust-source" in changed.stderr
    trusted = cli(["resume", "out", "--trust-source"], tmp_path)
    assert trusted.returncode == 0 and "3 trials, 3 succeeded" in trusted.stdout, trusted.stderr
    source.unlink()
    missing = cli(["resume", "out"], tmp_path)
    assert missing.returncode == 2 and "no longer exists" in missing.stderr


# 6. a crafted one-shot checkpoint is refused, not executed ------------------------------------------
class _Payload:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.target}",))


def test_a_crafted_checkpoint_does_not_run_code(tmp_path: Path) -> None:
    from archspace.oneshot import DARTS
    from archspace.oneshot._trainer import CheckpointError
    from archspace.testing import CellNet

    checkpoint = tmp_path / "checkpoint.pt"
    with open(checkpoint, "wb") as f:
        pickle.dump({"weights": _Payload(str(tmp_path / "pwned"))}, f)
    import torch

    trainer = DARTS(epochs=1)
    trainer.build(CellNet())
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        trainer.load_checkpoint(checkpoint)
    assert not (tmp_path / "pwned").exists()
    torch.save({"something": torch.zeros(2)}, checkpoint)
    with pytest.raises(CheckpointError, match="not an archspace one-shot checkpoint"):
        trainer.load_checkpoint(checkpoint)


# 7. damaged databases: list what can be read, name the rest ------------------------------------------
def _bulky_run(directory: Path, trials: int = 16) -> None:
    experiment = Experiment(TinySpace(), FunctionalEvaluator(bulky), GridSearch(), max_trials=trials,
                            executor="inline", directory=directory, progress=False)
    experiment.run()
    experiment.storage.close()
    assert not (directory / "experiment.db-wal").exists()


def test_an_invalid_json_row_is_named_and_the_rest_stays_reachable(tmp_path: Path) -> None:
    _bulky_run(tmp_path)
    with sqlite3.connect(tmp_path / "experiment.db") as conn:
        conn.execute("UPDATE trials SET sample = '{\"x\": 1' WHERE id = 3")  # trial 2
    before = digest(tmp_path / "experiment.db")
    listing = cli(["trials", str(tmp_path)], ROOT)
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 16  # header + 15
    assert "trial 2: invalid data" in listing.stderr
    exported = cli(["export", str(tmp_path), "--top", "3"], ROOT)
    assert exported.returncode == 0 and "trial 2" in exported.stderr
    doctor = cli(["doctor", str(tmp_path)], ROOT)
    assert doctor.returncode == 1 and "trial 2 cannot be read" in doctor.stdout
    assert digest(tmp_path / "experiment.db") == before  # reading changed nothing
    resumed = Experiment(TinySpace(), FunctionalEvaluator(bulky), GridSearch(), max_trials=20, executor="inline",
                         directory=tmp_path, progress=False)
    with pytest.raises(StorageError, match="trial 2: invalid data"):
        resumed.resume()


def test_a_corrupt_page_costs_only_its_rows(tmp_path: Path) -> None:
    _bulky_run(tmp_path)
    db = tmp_path / "experiment.db"
    data = bytearray(db.read_bytes())
    page_size = 4096
    page = data.index(b"marker-0007") // page_size
    data[page * page_size: page * page_size + 8] = b"\xff" * 8  # the leaf page's header
    db.write_bytes(bytes(data))
    listing = cli(["trials", str(tmp_path)], ROOT)
    assert listing.returncode == 0, listing.stderr
    listed = [int(line.split()[0]) for line in listing.stdout.splitlines()[1:]]
    assert 7 not in listed and len(listed) >= 12  # the other pages' trials are all there
    assert "trial 7: unreadable" in listing.stderr
    doctor = cli(["doctor", str(tmp_path)], ROOT)
    assert doctor.returncode == 1 and "integrity check" in doctor.stdout


# disk full: a named error, nothing lost, and resume completes once space is freed -----------------------
def test_a_full_disk_loses_nothing_and_resume_completes(tmp_path: Path, tmpfs: Any) -> None:
    mount = tmpfs("1200k")
    directory = mount / "run"

    def make() -> Experiment:
        return Experiment(TinySpace(), FunctionalEvaluator(huge), GridSearch(), max_trials=16, executor="inline",
                          directory=directory, progress=False)

    with pytest.raises(StorageError, match="full.*nothing|full.*kept"):
        make().run()
    kept = succeeded(directory / "experiment.db")
    assert 2 <= len(kept) < 16
    subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
    trials = make().resume()
    assert [t.id for t in trials] == list(range(16)) and all(t.status == "succeeded" for t in trials)
    assert [(t.id, t.metric) for t in trials[: len(kept)]] == kept


# 8. a deleted WAL file followed by a crash keeps every finished result ----------------------------------
def test_deleting_the_wal_then_killing_the_driver_keeps_finished_trials(tmp_path: Path) -> None:
    db = tmp_path / "experiment.db"
    driver = start_driver(tmp_path)
    try:
        wait_for(db, 4, driver)
        before = succeeded(db)
        (tmp_path / "experiment.db-wal").unlink()
        time.sleep(1.5)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.communicate()
    after = dict(succeeded(db))
    assert before and all(after.get(i) == metric for i, metric in before), (before, after)
