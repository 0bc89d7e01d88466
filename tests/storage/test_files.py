"""The storage package names an experiment's database and opens a run's store in one place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archspace.storage import (
    EXPERIMENT_DB,
    SQLiteStorage,
    StorageError,
    experiment_db,
    holds_experiment,
    open_database,
    open_storage,
)


def test_directory_memory_and_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert experiment_db(run) == run / EXPERIMENT_DB == run / "experiment.db"
    assert not holds_experiment(run)
    store = open_storage(run)
    assert isinstance(store, SQLiteStorage) and store.path == str(run / "experiment.db")
    store.create_trial({"a": 1}, None)
    store.close()
    assert holds_experiment(run) and not holds_experiment(tmp_path)
    reader = open_storage(run, read_only=True)
    assert [t.sample for t in reader.trials()] == [{"a": 1}] and reader.read_only
    reader.close()
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(experiment_db(run).read_bytes())
    assert [t.sample for t in open_database(copy, read_only=True).trials()] == [{"a": 1}]
    assert open_storage(None).path == ":memory:"


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no experiment database"):
        open_storage(tmp_path / "empty", read_only=True)
    with pytest.raises(StorageError, match="in memory cannot be opened read-only"):
        open_storage(None, read_only=True)
    assert not (tmp_path / "empty").exists()


def test_the_storage_package_is_torch_free() -> None:
    # Load archspace.storage without archspace/__init__ (which re-exports the torch parts), as the
    # dashboard's and the CLI's read paths would like to: no storage module may pull torch in.
    import archspace.storage

    root = Path(archspace.storage.__file__).parents[1]
    code = ("import sys, types; pkg = types.ModuleType('archspace'); pkg.__path__ = [sys.argv[1]]; "
            "sys.modules['archspace'] = pkg; import archspace.storage, archspace.storage.memory, "
            "archspace.storage.files; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code, str(root)], check=True)
