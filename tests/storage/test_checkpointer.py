"""Finished trials reach the main database file (not only the WAL) moments after they are recorded."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from archspace.storage import SQLiteStorage, _checkpointer


def _in_main_file(db: Path) -> int:
    # immutable: read the main file alone, ignoring the -wal (as after losing it). Immutable also
    # means unlocked, so a read that overlaps a checkpoint copying pages in can see a torn file
    # ("malformed"): that read counts as "not there yet" and the caller polls again; the count
    # each assertion waits for must still come from a whole read.
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM trials WHERE status = 'succeeded'").fetchone()[0])
        except sqlite3.DatabaseError:  # nothing checkpointed yet (no schema), or a torn read mid-checkpoint
            return -1


def _wait(predicate: object, limit: float = 10) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_finished_trials_are_copied_into_the_main_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_checkpointer, "IDLE_SECONDS", 0.3)
    db = tmp_path / "experiment.db"
    store = SQLiteStorage(db)
    ids = [store.create_trial({"x": i}, None) for i in range(3)]
    store.finish_trial(ids[0], "succeeded", 1.0, None, None)
    assert _wait(lambda: _in_main_file(db) == 1)
    store.finish_trial(ids[1], "succeeded", 2.0, None, None)
    assert _wait(lambda: _in_main_file(db) == 2)
    # idle: the thread ends; the next finished trial starts it again
    checkpointer = store._checkpointer
    assert checkpointer is not None and checkpointer._thread is not None
    first_thread = checkpointer._thread  # other tests' stores may have threads of their own alive
    assert _wait(lambda: not first_thread.is_alive())
    store.finish_trial(ids[2], "succeeded", 3.0, None, None)
    assert _wait(lambda: _in_main_file(db) == 3)
    second_thread = checkpointer._thread
    assert second_thread is not first_thread and second_thread is not None
    store.close()
    assert not second_thread.is_alive()
