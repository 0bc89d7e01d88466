"""Experiment storage: a narrow interface, with SQLite (file or in-memory) behind it."""

from __future__ import annotations

from archspace.storage.base import FINISHED, STATUSES, Storage, StorageError, TrialRecord
from archspace.storage.sqlite import SCHEMA_VERSION, SQLiteStorage

__all__ = ["FINISHED", "SCHEMA_VERSION", "STATUSES", "SQLiteStorage", "Storage", "StorageError", "TrialRecord"]
