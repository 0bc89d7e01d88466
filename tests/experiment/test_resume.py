"""Kill the driver for real (SIGKILL, SIGINT) in the middle of a run, then resume it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archspace.cli.config import load_experiment
from archspace.storage import SQLiteStorage

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("killable.py")


def _succeeded(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM trials WHERE status = 'succeeded'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _start(directory: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ARCHSPACE_TEST_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "archspace.cli.main", "run", str(SCRIPT)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(db: Path, n: int, proc: subprocess.Popen[bytes], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while _succeeded(db) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the experiment made no progress"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_driver_resumes_without_losing_or_rerunning_trials(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "experiment.db"
    proc = _start(tmp_path)
    _wait_for(db, 4, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and b"archspace resume" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    before = {t.id: t for t in SQLiteStorage(db).trials()}
    finished = {i: t for i, t in before.items() if t.status == "succeeded"}
    assert len(finished) >= 4 and len(before) < 12
    if sig == signal.SIGINT:
        assert not any(t.status == "running" for t in before.values())  # graceful: marked interrupted

    experiment = load_experiment(SCRIPT)
    experiment.directory = tmp_path
    trials = experiment.resume()

    assert [t.id for t in trials] == list(range(12))  # contiguous ids, exactly the budget
    assert all(t.status == "succeeded" for t in trials)
    for i, old in finished.items():  # finished trials kept, not re-run
        assert trials[i].ended_at == old.ended_at and trials[i].metric == old.metric
    samples = [tuple(sorted(t.sample.items())) for t in trials]
    assert len(set(samples)) == 12  # the strategy continued from its checkpoint: dedup still holds
    assert all(t.metric == t.sample["x"] + t.sample["hidden"] / 10 for t in trials)
