from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from archspace.storage import SCHEMA_VERSION, SQLiteStorage, StorageError


def test_round_trip_and_wal(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "x" / "experiment.db")
    assert store.schema_version == SCHEMA_VERSION
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.set_config({"space": "S"})
    first = store.create_trial({"a": 1}, {"rng": [1]})
    second = store.create_trial({"a": [0, 2]}, None)
    assert (first, second) == (0, 1)
    store.start_trial(first, "worker-0")
    store.add_intermediate(first, 1, 0.5)
    store.add_intermediate(first, 2, 0.7)
    store.finish_trial(first, "succeeded", 0.7, {"default": 0.7, "loss": 0.3}, None)
    store.save_strategy({"rng": [2]}, [first])
    store.close()

    again = SQLiteStorage(tmp_path / "x" / "experiment.db")
    assert again.get_config() == {"space": "S"}
    t = again.trial(first)
    assert (t.sample, t.status, t.metric, t.metrics["loss"], t.intermediates, t.worker) == (
        {"a": 1}, "succeeded", 0.7, 0.3, [(1, 0.5), (2, 0.7)], "worker-0")
    assert again.load_strategy() == ({"rng": [2]}, [0])
    assert again.requeue_unfinished() == [second]
    assert again.trial(second).status == "queued"
    with pytest.raises(StorageError, match="unknown trial status 'done'"):
        again.finish_trial(second, "done", None, None, None)


def test_migrates_an_empty_file_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "experiment.db"
    sqlite3.connect(path).close()  # version 0: an empty database
    assert SQLiteStorage(path).schema_version == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="newer than this archspace"):
        SQLiteStorage(path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "experiment.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open experiment database"):
        SQLiteStorage(path)
