"""The one place that names an experiment's database file and opens a run's store.

Why: the file name ``experiment.db`` and the choice of backend used to be written out by the
experiment, the CLI, the doctor and the dashboard each; a second backend or a renamed file would
have meant finding them all. Callers now ask this module where an experiment's store is
(:func:`experiment_db`), whether a directory holds one (:func:`holds_experiment`), and for the
store itself (:func:`open_storage` for a directory or memory, :func:`open_database` for a file).
"""

from __future__ import annotations

import os
from pathlib import Path

from archspace.storage.base import StorageError
from archspace.storage.sqlite import SQLiteStorage

#: The name of an experiment's database inside its directory.
EXPERIMENT_DB = "experiment.db"


def experiment_db(directory: str | os.PathLike[str]) -> Path:
    """The database file of the experiment in ``directory`` (whether or not it exists yet)."""
    return Path(directory) / EXPERIMENT_DB


def holds_experiment(directory: str | os.PathLike[str]) -> bool:
    """True when ``directory`` holds an experiment's database file (a link to one counts)."""
    return experiment_db(directory).is_file()


def open_storage(directory: str | os.PathLike[str] | None, *, read_only: bool = False) -> SQLiteStorage:
    """The store of the run in ``directory``: its :func:`experiment_db`.

    Args:
        directory: the experiment directory (created with the database unless ``read_only``), or
            None for a store in memory that lives as long as the returned object.
        read_only: open without ever writing (listing, export, doctor, dashboard); the database
            must exist.

    Returns:
        The file store (:class:`~archspace.storage.SQLiteStorage`): besides the
        :class:`~archspace.storage.Storage` interface it offers ``integrity_errors()`` and
        ``schema_version``, which the doctor reads.

    Raises:
        StorageError: the database cannot be opened (naming the file and why), or None with ``read_only``.
    """
    if directory is None:
        if read_only:
            raise StorageError("a store in memory cannot be opened read-only: there is nothing to read")
        return SQLiteStorage(":memory:")
    return open_database(experiment_db(directory), read_only=read_only)


def open_database(path: str | os.PathLike[str], *, read_only: bool = False) -> SQLiteStorage:
    """The store in the database file ``path`` itself (a copy or link under another name, a path
    already resolved, as the dashboard keeps); :func:`open_storage` is the usual way in."""
    return SQLiteStorage(path, read_only=read_only)


__all__ = ["EXPERIMENT_DB", "experiment_db", "holds_experiment", "open_database", "open_storage"]
