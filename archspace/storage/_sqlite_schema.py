"""The SQLite store's schema: its migrations, the version in ``PRAGMA user_version``, and the
checks made before a file is used (is it ours, is it newer than this archspace).

Why apart from :mod:`archspace.storage.sqlite`: the schema changes by appending one migration
here; the store's methods (what a trial write or read does) rarely change with it, and a reviewer
of a new migration reads this file alone.
"""

from __future__ import annotations

import sqlite3

from archspace.storage.base import StorageError

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
    # 2: "told" becomes a flag per trial, so a checkpoint no longer rewrites a list that grows
    # with every trial (the old list is carried over).
    """
    ALTER TABLE trials ADD COLUMN told INTEGER NOT NULL DEFAULT 0;
    UPDATE trials SET told = 1 WHERE id - 1 IN
        (SELECT value FROM json_each(COALESCE((SELECT told FROM strategy_state WHERE id = 0), '[]')));
    UPDATE strategy_state SET told = '[]';
    """,
    # 3: one-shot searches record one row per finished epoch (losses, validation metric, exported
    # sample, the distribution of every decision), keyed by the epoch so a re-run epoch replaces it.
    """
    CREATE TABLE epochs (
        epoch INTEGER PRIMARY KEY,
        record TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
#: The tables every version has: a file without them is not an archspace experiment.
TABLES = {"meta", "trials", "intermediates", "strategy_state"}
#: The trial columns a :class:`~archspace.storage.TrialRecord` is read from, in its order.
COLUMNS = "id, sample, status, metric, metrics, error, worker, queued_at, started_at, ended_at"


def schema_version(db: sqlite3.Connection) -> int:
    """The schema version of the open file (0: empty)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check_kind(db: sqlite3.Connection, path: str, read_only: bool) -> None:
    """Refuse a SQLite file that is some other program's database (never migrate into it), and,
    read-only, an empty one."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = schema_version(db)
    if version < 0 or (version == 0 and tables) or (version > 0 and not TABLES <= tables):
        raise StorageError(
            f"{path!r} is a SQLite database but not an archspace experiment (schema version {version}, "
            f"tables {sorted(tables)}); use another directory"
        )
    if version == 0 and read_only:
        raise StorageError(f"{path!r} is empty: it holds no experiment")


def migrate(db: sqlite3.Connection, path: str) -> None:
    """Run the migrations from the file's version to :data:`SCHEMA_VERSION`, each in its own
    transaction; refuse a file newer than this archspace."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"experiment database {path!r} has schema version {version}, newer than this "
            f"archspace's {SCHEMA_VERSION}; upgrade archspace to open it"
        )
    for target in range(version, SCHEMA_VERSION):
        db.executescript("BEGIN;" + MIGRATIONS[target] + f"PRAGMA user_version={target + 1}; COMMIT;")


__all__ = ["COLUMNS", "MIGRATIONS", "SCHEMA_VERSION", "TABLES", "check_kind", "migrate", "schema_version"]
