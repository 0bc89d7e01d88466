"""Experiment storage: a narrow interface, with SQLite (file or in-memory) behind it."""

from __future__ import annotations

from archspace.storage._sanitize import check_step, safe_json, safe_text
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
from archspace.storage.sqlite import SCHEMA_VERSION, SQLiteStorage

__all__ = ["FINISHED", "SCHEMA_VERSION", "STATUSES", "UNFINISHED", "BadRow", "SQLiteStorage", "Storage",
           "StorageError", "TrialRecord", "TrialStatus", "check_step", "safe_json", "safe_text"]
