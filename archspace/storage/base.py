"""The narrow storage interface of experiments, the trial record, and the trial status.

The driver process is the only writer. Every method that changes state commits before it
returns, so a crash (even SIGKILL) loses at most the work in flight, never a recorded result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from archspace.errors import ArchspaceError


class TrialStatus(str, Enum):
    """Where a trial stands. One enum for storage, executors, progress, CLI and dashboard.

    ``queued``/``running`` are in flight; ``succeeded``, ``failed``, ``timeout`` and ``pruned``
    are final (the strategy has been or will be told); ``interrupted`` trials were stopped by the
    driver (Ctrl-C, SIGTERM, ``max_duration``) and run again on resume. ``pruned`` trials were
    stopped early by a multi-fidelity scheduler: their metric is the last reported (partial)
    value and their curve is kept.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """True for the final statuses (the trial will not run again)."""
        return self in FINISHED

    @classmethod
    def parse(cls, value: Any) -> TrialStatus:
        """The status named ``value``, or :class:`StorageError` naming the allowed ones."""
        try:
            return cls(value)
        except ValueError:
            raise StorageError(f"unknown trial status {value!r}; statuses are {[s.value for s in cls]}") from None


STATUSES = tuple(s.value for s in TrialStatus)
FINISHED = (TrialStatus.SUCCEEDED, TrialStatus.FAILED, TrialStatus.TIMEOUT, TrialStatus.PRUNED)
UNFINISHED = (TrialStatus.QUEUED, TrialStatus.RUNNING, TrialStatus.INTERRUPTED)


class StorageError(ArchspaceError, RuntimeError):
    """The store cannot be used: another experiment, a newer schema, a corrupt file, a full disk."""


@dataclass
class TrialRecord:
    """One trial as stored."""

    id: int
    sample: dict[str, Any]
    status: TrialStatus
    metric: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    intermediates: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None
    worker: str | None = None
    queued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    @property
    def finished(self) -> bool:
        """True once the trial has a final status (succeeded, failed, timeout or pruned)."""
        return self.status in FINISHED

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id, "sample": self.sample, "status": self.status.value, "metric": self.metric,
            "metrics": self.metrics, "intermediates": [list(p) for p in self.intermediates],
            "error": self.error, "worker": self.worker, "queued_at": self.queued_at,
            "started_at": self.started_at, "ended_at": self.ended_at,
        }


@dataclass(frozen=True)
class BadRow:
    """A stored trial that cannot be read (corrupt page, invalid JSON): its id and why."""

    id: int
    reason: str


class Storage(ABC):
    """Where an experiment keeps its config, trials and strategy checkpoints."""

    #: Trials that could not be read by the last :meth:`trials` call (empty on a healthy store).
    bad_rows: list[BadRow]

    @abstractmethod
    def get_config(self) -> dict[str, Any] | None:
        """The stored experiment config, or None for an empty store."""

    @abstractmethod
    def set_config(self, config: Mapping[str, Any]) -> None:
        """Store the experiment config (once, when the experiment starts)."""

    @abstractmethod
    def create_trial(self, sample: Mapping[str, Any], strategy_state: Mapping[str, Any] | None) -> int:
        """Record a new queued trial, with the strategy state after the ask that made it."""

    @abstractmethod
    def start_trial(self, trial_id: int, worker: str) -> None:
        """Mark a trial running on ``worker``."""

    @abstractmethod
    def add_intermediate(self, trial_id: int, step: int, value: float) -> None:
        """Record an intermediate result."""

    @abstractmethod
    def finish_trial(
        self, trial_id: int, status: TrialStatus | str, metric: float | None, metrics: Mapping[str, Any] | None,
        error: str | None,
    ) -> None:
        """Record a trial's final status and results."""

    @abstractmethod
    def mark_interrupted(self, trial_ids: Sequence[int]) -> None:
        """Mark unfinished trials interrupted (driver stopping)."""

    @abstractmethod
    def requeue_unfinished(self) -> list[int]:
        """Set every unfinished trial back to queued; return their ids in order."""

    @abstractmethod
    def save_strategy(self, state: Mapping[str, Any], told: Sequence[int]) -> None:
        """Checkpoint the strategy state, marking the trials in ``told`` as told (added to earlier ones)."""

    @abstractmethod
    def load_strategy(self) -> tuple[dict[str, Any] | None, list[int]]:
        """The last strategy checkpoint and every told id (None, [] when there is none)."""

    def add_epoch(self, epoch: int, record: Mapping[str, Any]) -> None:
        """Record one finished epoch of a one-shot search (JSON data; replaces a re-run epoch).

        Not abstract, so that stores written before one-shot experiments existed keep working;
        they refuse one-shot searches with this error.
        """
        raise StorageError(f"{type(self).__name__} cannot record one-shot epochs; use SQLiteStorage")

    def epochs(self) -> list[dict[str, Any]]:
        """The recorded one-shot epochs, in order, each with its ``"epoch"`` number (empty if none)."""
        return []

    @abstractmethod
    def trials(self, status: TrialStatus | str | None = None) -> list[TrialRecord]:
        """All readable trials (optionally of one status), by id; unreadable ones go to :attr:`bad_rows`."""

    @abstractmethod
    def trial(self, trial_id: int) -> TrialRecord:
        """One trial."""

    def flush(self) -> None:
        """Make the store's files self-contained (called when a driver stops; a no-op by default).

        Why: a finished experiment is copied, archived and opened read-only; those copies must
        not depend on side files (SQLite's ``-wal``) that a copy of the database alone leaves out.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the store."""


__all__ = ["FINISHED", "STATUSES", "UNFINISHED", "BadRow", "Storage", "StorageError", "TrialRecord", "TrialStatus"]
