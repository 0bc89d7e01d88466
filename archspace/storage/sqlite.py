"""SQLite storage: one file per experiment, WAL journal, versioned schema with migrations.

WAL with ``synchronous=NORMAL`` keeps every committed transaction across a crash of the process
(SIGKILL, OOM kill); only an operating-system crash could lose the last ones. The schema version
lives in ``PRAGMA user_version``; opening an older file runs the migrations in order, opening a
newer one is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archspace.storage.base import STATUSES, Storage, StorageError, TrialRecord

# MIGRATIONS[i] takes a database from schema version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE trials (
        id INTEGER PRIMARY KEY,
        sample TEXT NOT NULL,
        status TEXT NOT NULL,
        metric REAL,
        metrics TEXT,
        error TEXT,
        worker TEXT,
        queued_at REAL,
        started_at REAL,
        ended_at REAL
    );
    CREATE TABLE intermediates (
        trial_id INTEGER NOT NULL REFERENCES trials(id),
        step INTEGER NOT NULL,
        value REAL NOT NULL,
        recorded_at REAL NOT NULL
    );
    CREATE INDEX intermediates_trial ON intermediates(trial_id);
    CREATE TABLE strategy_state (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        state TEXT NOT NULL,
        told TEXT NOT NULL,
        saved_at REAL NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class SQLiteStorage(Storage):
    """Experiment storage in a SQLite file (or ``":memory:"``).

    Args:
        path: the database file (created with its folder), or ``":memory:"``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open experiment database {self.path!r}: {exc}") from None

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"experiment database {self.path!r} has schema version {version}, newer than this "
                f"archspace's {SCHEMA_VERSION}; upgrade archspace to open it"
            )
        for target in range(version, SCHEMA_VERSION):
            self._db.executescript("BEGIN;" + MIGRATIONS[target] + f"PRAGMA user_version={target + 1}; COMMIT;")

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # Config --------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        return json.loads(row[0]) if row else None

    def set_config(self, config: Mapping[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('config', ?)", (json.dumps(dict(config)),))

    # Trials --------------------------------------------------------------------------------------
    def create_trial(self, sample: Mapping[str, Any], strategy_state: Mapping[str, Any] | None) -> int:
        now = time.time()
        with self._transaction():
            cur = self._db.execute(
                "INSERT INTO trials(sample, status, queued_at) VALUES (?, 'queued', ?)",
                (json.dumps(dict(sample), sort_keys=True), now),
            )
            if strategy_state is not None:
                self._db.execute(
                    "INSERT INTO strategy_state(id, state, told, saved_at) VALUES (0, ?, '[]', ?) "
                    "ON CONFLICT(id) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
                    (json.dumps(dict(strategy_state)), now),
                )
        assert cur.lastrowid is not None
        return int(cur.lastrowid) - 1  # ids count from 0 (SQLite rowids from 1)

    def start_trial(self, trial_id: int, worker: str) -> None:
        self._db.execute(
            "UPDATE trials SET status = 'running', worker = ?, started_at = ?, ended_at = NULL WHERE id = ?",
            (worker, time.time(), trial_id + 1),
        )

    def add_intermediate(self, trial_id: int, step: int, value: float) -> None:
        self._db.execute(
            "INSERT INTO intermediates(trial_id, step, value, recorded_at) VALUES (?, ?, ?, ?)",
            (trial_id + 1, step, value, time.time()),
        )

    def finish_trial(
        self, trial_id: int, status: str, metric: float | None, metrics: Mapping[str, Any] | None,
        error: str | None,
    ) -> None:
        if status not in STATUSES:
            raise StorageError(f"unknown trial status {status!r}; statuses are {list(STATUSES)}")
        self._db.execute(
            "UPDATE trials SET status = ?, metric = ?, metrics = ?, error = ?, ended_at = ? WHERE id = ?",
            (status, metric, json.dumps(dict(metrics)) if metrics else None, error, time.time(), trial_id + 1),
        )

    def mark_interrupted(self, trial_ids: Sequence[int]) -> None:
        with self._transaction():
            for trial_id in trial_ids:
                self._db.execute(
                    "UPDATE trials SET status = 'interrupted', ended_at = ? WHERE id = ? "
                    "AND status IN ('queued', 'running')",
                    (time.time(), trial_id + 1),
                )

    def requeue_unfinished(self) -> list[int]:
        with self._transaction():
            rows = self._db.execute(
                "SELECT id FROM trials WHERE status IN ('queued', 'running', 'interrupted') ORDER BY id"
            ).fetchall()
            self._db.execute("DELETE FROM intermediates WHERE trial_id IN "
                             "(SELECT id FROM trials WHERE status IN ('queued', 'running', 'interrupted'))")
            self._db.execute(
                "UPDATE trials SET status = 'queued', worker = NULL, started_at = NULL, ended_at = NULL "
                "WHERE status IN ('queued', 'running', 'interrupted')"
            )
        return [int(r[0]) - 1 for r in rows]

    # Strategy --------------------------------------------------------------------------------------
    def save_strategy(self, state: Mapping[str, Any], told: Sequence[int]) -> None:
        self._db.execute(
            "INSERT INTO strategy_state(id, state, told, saved_at) VALUES (0, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET state = excluded.state, told = excluded.told, saved_at = excluded.saved_at",
            (json.dumps(dict(state)), json.dumps(list(told)), time.time()),
        )

    def load_strategy(self) -> tuple[dict[str, Any] | None, list[int]]:
        row = self._db.execute("SELECT state, told FROM strategy_state WHERE id = 0").fetchone()
        if row is None:
            return None, []
        return json.loads(row[0]), json.loads(row[1])

    # Reading ---------------------------------------------------------------------------------------
    def trials(self, status: str | None = None) -> list[TrialRecord]:
        query = "SELECT * FROM trials" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        rows = self._db.execute(query, (status,) if status else ()).fetchall()
        steps: dict[int, list[tuple[int, float]]] = {}
        for trial_id, step, value in self._db.execute(
            "SELECT trial_id, step, value FROM intermediates ORDER BY trial_id, step, recorded_at"
        ):
            steps.setdefault(int(trial_id) - 1, []).append((int(step), float(value)))
        return [self._record(row, steps) for row in rows]

    def trial(self, trial_id: int) -> TrialRecord:
        row = self._db.execute("SELECT * FROM trials WHERE id = ?", (trial_id + 1,)).fetchone()
        if row is None:
            raise StorageError(f"no trial {trial_id} in {self.path!r}")
        steps = {trial_id: [(int(s), float(v)) for s, v in self._db.execute(
            "SELECT step, value FROM intermediates WHERE trial_id = ? ORDER BY step, recorded_at", (trial_id + 1,))]}
        return self._record(row, steps)

    @staticmethod
    def _record(row: Sequence[Any], steps: Mapping[int, list[tuple[int, float]]]) -> TrialRecord:
        rowid, sample, status, metric, metrics, error, worker, queued, started, ended = row
        trial_id = int(rowid) - 1
        return TrialRecord(
            id=trial_id, sample=json.loads(sample), status=status, metric=metric,
            metrics=json.loads(metrics) if metrics else {}, intermediates=list(steps.get(trial_id, [])),
            error=error, worker=worker, queued_at=queued, started_at=started, ended_at=ended,
        )

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error), for autocommit connections."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStorage"]
