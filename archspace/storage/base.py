"""The narrow storage interface of experiments, and the trial record.

The driver process is the only writer. Every method that changes state commits before it
returns, so a crash (even SIGKILL) loses at most the work in flight, never a recorded result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archspace.errors import ArchspaceError

STATUSES = ("queued", "running", "succeeded", "failed", "timeout", "interrupted")
FINISHED = ("succeeded", "failed", "timeout")


class StorageError(ArchspaceError, RuntimeError):
    """The store cannot be used: another experiment, a newer schema, a corrupt file."""


@dataclass
class TrialRecord:
    """One trial as stored."""

    id: int
    sample: dict[str, Any]
    status: str
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
        """True once the trial has a final status (succeeded, failed or timeout)."""
        return self.status in FINISHED

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id, "sample": self.sample, "status": self.status, "metric": self.metric,
            "metrics": self.metrics, "intermediates": [list(p) for p in self.intermediates],
            "error": self.error, "worker": self.worker, "queued_at": self.queued_at,
            "started_at": self.started_at, "ended_at": self.ended_at,
        }


class Storage(ABC):
    """Where an experiment keeps its config, trials and strategy checkpoints."""

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
        self, trial_id: int, status: str, metric: float | None, metrics: Mapping[str, Any] | None,
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
        """Checkpoint the strategy state and the ids of the trials it has been told about."""

    @abstractmethod
    def load_strategy(self) -> tuple[dict[str, Any] | None, list[int]]:
        """The last strategy checkpoint and told ids (None, [] when there is none)."""

    @abstractmethod
    def trials(self, status: str | None = None) -> list[TrialRecord]:
        """All trials (optionally of one status), by id."""

    @abstractmethod
    def trial(self, trial_id: int) -> TrialRecord:
        """One trial."""

    @abstractmethod
    def close(self) -> None:
        """Release the store."""


__all__ = ["FINISHED", "STATUSES", "Storage", "StorageError", "TrialRecord"]
