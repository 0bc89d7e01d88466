"""A live progress bar for experiments (tqdm): trials done, pruned, failed, running, best so far, ETA."""

from __future__ import annotations

import sys
from typing import Any

from archspace.storage.base import TrialStatus


class Progress:
    """Shows progress on stderr when enabled (default: when stderr is a terminal)."""

    def __init__(self, total: int | None, direction: str, *, enabled: bool | None = None,
                 initial: list[Any] | None = None) -> None:
        self.direction = direction
        self.done = self.failed = self.pruned = 0
        self.running: set[int] = set()
        self.best: float | None = None
        for trial in initial or []:
            self._count(trial.status, trial.metric)
        self._bar: Any = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=self.done + self.failed + self.pruned, unit="trial", dynamic_ncols=True,
                             desc="archspace")
            self._refresh()

    def _count(self, status: str, metric: float | None) -> None:
        if status == TrialStatus.SUCCEEDED:
            self.done += 1
            if metric is not None and (self.best is None or
                                       (metric > self.best if self.direction == "maximize" else metric < self.best)):
                self.best = metric
        elif status in (TrialStatus.FAILED, TrialStatus.TIMEOUT):
            self.failed += 1
        elif status == TrialStatus.PRUNED:  # stopped early by a scheduler: its metric is partial, not a best
            self.pruned += 1

    def started(self, trial_id: int) -> None:
        """A trial began."""
        self.running.add(trial_id)
        self._refresh()

    def finished(self, trial_id: int, status: str, metric: float | None) -> None:
        """A trial ended."""
        self.running.discard(trial_id)
        self._count(status, metric)
        if self._bar is not None:
            self._bar.update(1)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            best = "-" if self.best is None else f"{self.best:.4f}"
            pruned = f" pruned={self.pruned}" if self.pruned else ""
            self._bar.set_postfix_str(f"ok={self.done}{pruned} failed={self.failed} running={len(self.running)} "
                                      f"best={best}")

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


__all__ = ["Progress"]
