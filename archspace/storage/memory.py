"""A pure-Python store that keeps an experiment in the process's memory.

Why it exists besides ``SQLiteStorage(":memory:")``: it is the second, independent
implementation of :class:`~archspace.storage.Storage`, so the contract suite
(:mod:`archspace.testing.storage_contracts`) checks the interface itself and not one backend's
habits; and it is the short, readable reference for anyone writing a store of their own (a
server, a cloud bucket). It records exactly what the SQLite store records — samples, configs and
checkpoints as their JSON round trip, error texts and metrics through the same sanitisers, a NaN
metric as None (SQLite stores NaN as NULL) — so code tested against one behaves the same on the
other. One lock guards every method, so threads sharing one store get distinct trial ids.

Nothing survives the process: use it for tests and throw-away searches.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archspace.storage._sanitize import check_step, safe_json, safe_text
from archspace.storage.base import UNFINISHED, BadRow, Storage, StorageError, TrialRecord, TrialStatus


@dataclass
class _Row:
    """One stored trial: the record's fields as the SQLite store keeps them (JSON text for data)."""

    sample: str
    status: TrialStatus
    queued_at: float
    metric: float | None = None
    metrics: str | None = None
    error: str | None = None
    worker: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    told: bool = False
    intermediates: list[tuple[int, float]] = field(default_factory=list)


class InMemoryStorage(Storage):
    """Experiment storage in plain Python objects (lost when the process ends).

    Example:
        >>> store = InMemoryStorage()
        >>> trial = store.create_trial({"op": "conv"}, None)
        >>> store.finish_trial(trial, "succeeded", 0.9, None, None)
        >>> store.trial(trial).metric
        0.9
    """

    def __init__(self) -> None:
        self.bad_rows: list[BadRow] = []
        self._lock = threading.Lock()
        self._closed = False
        self._config: str | None = None
        self._rows: list[_Row] = []
        self._strategy: str | None = None
        self._epochs: dict[int, str] = {}

    def _open(self, what: str) -> None:
        """Refuse use after :meth:`close`, as the file store does (its connection is gone)."""
        if self._closed:
            raise StorageError(f"{what} failed on an in-memory store: the store is closed")

    def _row(self, trial_id: int) -> _Row | None:
        return self._rows[trial_id] if 0 <= trial_id < len(self._rows) else None

    # Config --------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any] | None:
        with self._lock:
            self._open("reading the config")
            return None if self._config is None else dict(json.loads(self._config))

    def set_config(self, config: Mapping[str, Any]) -> None:
        text = json.dumps(dict(config))
        with self._lock:
            self._open("writing the config")
            self._config = text

    # Trials --------------------------------------------------------------------------------------
    def create_trial(self, sample: Mapping[str, Any], strategy_state: Mapping[str, Any] | None) -> int:
        text = json.dumps(dict(sample), sort_keys=True)
        state = json.dumps(dict(strategy_state)) if strategy_state is not None else None
        with self._lock:
            self._open("recording a new trial")
            self._rows.append(_Row(sample=text, status=TrialStatus.QUEUED, queued_at=time.time()))
            if state is not None:
                self._strategy = state
            return len(self._rows) - 1

    def start_trial(self, trial_id: int, worker: str) -> None:
        with self._lock:
            self._open("marking a trial started")
            row = self._row(trial_id)
            if row is not None:  # an unknown id changes nothing, as an SQL UPDATE matching no row
                row.status, row.worker, row.started_at, row.ended_at = TrialStatus.RUNNING, worker, time.time(), None

    def add_intermediate(self, trial_id: int, step: int, value: float) -> None:
        """Record a report. Raises ValueError for a step outside ``[0, 2**63 - 1]`` or a value that
        is not a finite number, StorageError for an unknown trial (nothing is written)."""
        step = check_step(step)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"a reported value must be a finite number, got {safe_text(repr(value), 200)}")
        with self._lock:
            self._open("recording an intermediate result")
            row = self._row(trial_id)
            if row is None:
                raise StorageError(f"recording an intermediate result failed on an in-memory store: no trial {trial_id}")
            row.intermediates.append((step, float(value)))

    def finish_trial(
        self, trial_id: int, status: TrialStatus | str, metric: float | None, metrics: Mapping[str, Any] | None,
        error: str | None,
    ) -> None:
        status = TrialStatus.parse(status)
        value = float(metric) if metric is not None else None
        if value is not None and math.isnan(value):
            value = None  # what the file store reads back: SQLite stores NaN as NULL
        metrics_text = safe_json(dict(metrics)) if metrics else None
        error_text = safe_text(error) if error is not None else None
        with self._lock:
            self._open("recording a finished trial")
            row = self._row(trial_id)
            if row is not None:
                row.status, row.metric, row.metrics, row.error = status, value, metrics_text, error_text
                row.ended_at = time.time()

    def mark_interrupted(self, trial_ids: Sequence[int]) -> None:
        with self._lock:
            self._open("marking trials interrupted")
            for trial_id in trial_ids:
                row = self._row(trial_id)
                if row is not None and row.status in (TrialStatus.QUEUED, TrialStatus.RUNNING):
                    row.status, row.ended_at = TrialStatus.INTERRUPTED, time.time()

    def requeue_unfinished(self) -> list[int]:
        with self._lock:
            self._open("queueing interrupted trials again")
            ids = [i for i, row in enumerate(self._rows) if row.status in UNFINISHED]
            for i in ids:
                row = self._rows[i]
                row.status, row.worker, row.started_at, row.ended_at = TrialStatus.QUEUED, None, None, None
                row.intermediates.clear()
            return ids

    # Strategy --------------------------------------------------------------------------------------
    def save_strategy(self, state: Mapping[str, Any], told: Sequence[int]) -> None:
        text = json.dumps(dict(state))
        with self._lock:
            self._open("checkpointing the strategy")
            self._strategy = text
            for trial_id in told:
                row = self._row(trial_id)
                if row is not None:
                    row.told = True

    def load_strategy(self) -> tuple[dict[str, Any] | None, list[int]]:
        with self._lock:
            self._open("reading the strategy checkpoint")
            told = [i for i, row in enumerate(self._rows) if row.told]
            return (None if self._strategy is None else json.loads(self._strategy)), told

    # One-shot epochs ---------------------------------------------------------------------------------
    def add_epoch(self, epoch: int, record: Mapping[str, Any]) -> None:
        text = json.dumps(dict(record), sort_keys=True)
        with self._lock:
            self._open("recording a one-shot epoch")
            self._epochs[int(epoch)] = text

    def epochs(self) -> list[dict[str, Any]]:
        with self._lock:
            self._open("reading one-shot epochs")
            return [{**json.loads(self._epochs[epoch]), "epoch": epoch} for epoch in sorted(self._epochs)]

    # Reading ---------------------------------------------------------------------------------------
    def trials(self, status: TrialStatus | str | None = None) -> list[TrialRecord]:
        wanted = TrialStatus.parse(status) if status is not None else None
        with self._lock:
            self._open("listing trials")
            self.bad_rows = []
            return [self._record(i, row) for i, row in enumerate(self._rows) if wanted is None or row.status is wanted]

    def trial(self, trial_id: int) -> TrialRecord:
        with self._lock:
            self._open("reading a trial")
            row = self._row(trial_id)
            if row is None:
                raise StorageError(f"no trial {trial_id} in the in-memory store")
            self.bad_rows = []
            return self._record(trial_id, row)

    @staticmethod
    def _record(trial_id: int, row: _Row) -> TrialRecord:
        """A fresh record (decoded from the stored JSON, so callers never share mutable state with the store)."""
        return TrialRecord(
            id=trial_id, sample=json.loads(row.sample), status=row.status, metric=row.metric,
            metrics=json.loads(row.metrics) if row.metrics else {},
            intermediates=sorted(row.intermediates, key=lambda point: point[0]),  # by step, then as recorded
            error=row.error, worker=row.worker, queued_at=row.queued_at, started_at=row.started_at,
            ended_at=row.ended_at,
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True


__all__ = ["InMemoryStorage"]
