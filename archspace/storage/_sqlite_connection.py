"""How the SQLite store talks to its file: opening (read-only included), decoding text from a
damaged page, turning every ``sqlite3`` failure into a :class:`~archspace.storage.StorageError`
that says what to do, and explicit transactions on autocommit connections.

Why apart from :mod:`archspace.storage.sqlite`: these are the connection's mechanics, the same
for every method of the store; the store's file then reads as what each method stores.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from archspace.storage.base import StorageError

T = TypeVar("T")

# SQLite's own error text can quote damaged bytes; Python then fails to decode the message itself.
DB_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)
ANY_DB_ERROR = (sqlite3.Error, UnicodeDecodeError)


class Undecodable(str):
    """Text from a damaged page that is not UTF-8 (kept, with replacement characters, to be named)."""


def decode_text(raw: bytes) -> str:
    """The connection's ``text_factory``: UTF-8, or an :class:`Undecodable` that readers refuse by name."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Undecodable(raw.decode("utf-8", errors="replace"))


def open_read_only(path: str) -> sqlite3.Connection:
    """A connection that never writes: a WAL reader while a driver writes, else the file as it is."""
    if not Path(path).is_file():
        raise StorageError(f"no experiment database at {path!r}")
    uri = "file:" + quote(os.path.abspath(path))
    if not Path(path + "-wal").exists():
        # No WAL: no driver is writing, and everything is in the main file. (A read-only
        # connection would otherwise need to create the -wal/-shm files, and fails with a
        # "disk I/O error" after a crash that left a -shm without its -wal.)
        return sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None)
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=30)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except (sqlite3.OperationalError, UnicodeDecodeError):
        # A WAL database whose -shm cannot be created (read-only media, a copy without its
        # -wal/-shm): read the main file as it is.
        db = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db


def storage_error(path: str, what: str, exc: Exception, head: str | None = None) -> StorageError:
    """The error for a failed SQLite call: the file, SQLite's words, and what to do about it."""
    text = str(exc) if isinstance(exc, sqlite3.Error) else "malformed text in the file (not UTF-8)"
    hint = ""
    if "full" in text:
        hint = ("; the disk (or the file system's quota) is full. Every result recorded before this point is "
                "kept: free some space and continue with `archspace resume DIR` / experiment.resume()")
    elif "readonly" in text or "read-only" in text:
        hint = "; the experiment directory cannot be written: choose a writable directory"
    elif "malformed" in text or "not a database" in text:
        hint = "; the file is damaged: `archspace doctor DIR` lists what can still be read"
    head = head or f"{what} failed on experiment database"
    return StorageError(f"{head} {path!r}: {text}{hint}")


class _HasPath(Protocol):
    path: str


def guarded(what: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn any sqlite3 error of the wrapped method into a StorageError that says ``what`` failed."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def inner(self: _HasPath, *args: Any, **kwargs: Any) -> T:
            try:
                return method(self, *args, **kwargs)
            except ANY_DB_ERROR as exc:
                raise storage_error(self.path, what, exc) from None

        return inner

    return wrap


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error), for autocommit connections."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:
            self.db.execute("ROLLBACK")


__all__ = ["ANY_DB_ERROR", "DB_ERRORS", "Transaction", "Undecodable", "decode_text", "guarded", "open_read_only",
           "storage_error"]
