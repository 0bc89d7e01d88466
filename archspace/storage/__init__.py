"""Experiment storage: a narrow interface, with SQLite (file or in-memory) and a pure-Python
in-memory store behind it; :mod:`archspace.storage.files` names the experiment's file and opens it."""

from __future__ import annotations

from archspace.storage._sanitize import MAX_STEP, MAX_TEXT, check_step, safe_json, safe_text
from archspace.storage.base import (
    FINISHED,
    STATUSES,
    UNFINISHED,
    BadRow,
    Storage,
    StorageError,
    TrialRecord,
    TrialStatus,
)
from archspace.storage.files import EXPERIMENT_DB, experiment_db, holds_experiment, open_database, open_storage
from archspace.storage.memory import InMemoryStorage
from archspace.storage.sqlite import SCHEMA_VERSION, SQLiteStorage

__all__ = ["EXPERIMENT_DB", "FINISHED", "MAX_STEP", "MAX_TEXT", "SCHEMA_VERSION", "STATUSES", "UNFINISHED", "BadRow", "InMemoryStorage",
           "SQLiteStorage", "Storage", "StorageError", "TrialRecord", "TrialStatus", "check_step", "experiment_db",
           "holds_experiment", "open_database", "open_storage", "safe_json", "safe_text"]
