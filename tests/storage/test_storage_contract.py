"""Every built-in store (SQLite on a file, SQLite in memory, the pure-Python in-memory store)
passes the same storage contract, and the contract exercises every method of the interface."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from archspace.storage import BadRow, InMemoryStorage, Storage, TrialRecord, TrialStatus
from archspace.testing.storage_contracts import STORAGE_BACKENDS, STORAGE_CHECKS, StorageBackend, check_storage


@pytest.mark.parametrize("check", STORAGE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("backend", STORAGE_BACKENDS, ids=lambda b: b.name)
def test_contract(backend: StorageBackend, check: Callable[[StorageBackend, Path], None], tmp_path: Path) -> None:
    check(backend, tmp_path)


def test_backends_cover_a_file_and_memory() -> None:
    names = {b.name for b in STORAGE_BACKENDS}
    assert {"sqlite-file", "in-memory"} <= names
    assert any(b.persistent for b in STORAGE_BACKENDS) and any(b.shared_across_threads for b in STORAGE_BACKENDS)


class _Recording(Storage):
    """Delegates to an in-memory store and notes each interface method called."""

    called: set[str] = set()

    def __init__(self) -> None:
        self.inner = InMemoryStorage()
        self.bad_rows: list[BadRow] = []  # the in-memory store never has unreadable rows

    def _note(self, name: str) -> None:
        _Recording.called.add(name)

    def get_config(self) -> dict[str, Any] | None:
        self._note("get_config")
        return self.inner.get_config()

    def set_config(self, config: Mapping[str, Any]) -> None:
        self._note("set_config")
        self.inner.set_config(config)

    def create_trial(self, sample: Mapping[str, Any], strategy_state: Mapping[str, Any] | None) -> int:
        self._note("create_trial")
        return self.inner.create_trial(sample, strategy_state)

    def start_trial(self, trial_id: int, worker: str) -> None:
        self._note("start_trial")
        self.inner.start_trial(trial_id, worker)

    def add_intermediate(self, trial_id: int, step: int, value: float) -> None:
        self._note("add_intermediate")
        self.inner.add_intermediate(trial_id, step, value)

    def finish_trial(self, trial_id: int, status: TrialStatus | str, metric: float | None,
                     metrics: Mapping[str, Any] | None, error: str | None) -> None:
        self._note("finish_trial")
        self.inner.finish_trial(trial_id, status, metric, metrics, error)

    def mark_interrupted(self, trial_ids: Sequence[int]) -> None:
        self._note("mark_interrupted")
        self.inner.mark_interrupted(trial_ids)

    def requeue_unfinished(self) -> list[int]:
        self._note("requeue_unfinished")
        return self.inner.requeue_unfinished()

    def save_strategy(self, state: Mapping[str, Any], told: Sequence[int]) -> None:
        self._note("save_strategy")
        self.inner.save_strategy(state, told)

    def load_strategy(self) -> tuple[dict[str, Any] | None, list[int]]:
        self._note("load_strategy")
        return self.inner.load_strategy()

    def add_epoch(self, epoch: int, record: Mapping[str, Any]) -> None:
        self._note("add_epoch")
        self.inner.add_epoch(epoch, record)

    def epochs(self) -> list[dict[str, Any]]:
        self._note("epochs")
        return self.inner.epochs()

    def trials(self, status: TrialStatus | str | None = None) -> list[TrialRecord]:
        self._note("trials")
        return self.inner.trials(status)

    def trial(self, trial_id: int) -> TrialRecord:
        self._note("trial")
        return self.inner.trial(trial_id)

    def close(self) -> None:
        self._note("close")
        self.inner.close()


def test_the_contract_calls_every_abstract_method(tmp_path: Path) -> None:
    _Recording.called = set()
    check_storage(StorageBackend("recording", lambda directory: _Recording(), shared_across_threads=True), tmp_path)
    missing = set(Storage.__abstractmethods__) - _Recording.called
    assert len(Storage.__abstractmethods__) == 13 and not missing, f"the contract never calls {sorted(missing)}"
    assert {"add_epoch", "epochs"} <= _Recording.called
