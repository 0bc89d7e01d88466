"""Ranking finished trials and writing the export file (the same for every kind of run)."""

from __future__ import annotations

import json
from pathlib import Path

from archspace.storage import TrialRecord, TrialStatus


def rank(trials: list[TrialRecord], direction: str) -> list[TrialRecord]:
    """Succeeded trials with a metric, best first (ties: the earlier trial first)."""
    done = [t for t in trials if t.status is TrialStatus.SUCCEEDED and t.metric is not None]
    done.sort(key=lambda t: (t.metric if direction == "minimize" else -t.metric, t.id))  # type: ignore[operator]
    return done


def write_export(path: Path, top: list[TrialRecord], direction: str) -> Path:
    """Write an export file: the best sample under ``"sample"`` (so ``fixed_arch`` loads it)."""
    best = top[0]
    data = {
        "sample": best.sample, "metric": best.metric, "trial_id": best.id, "direction": direction,
        "top": [{"trial_id": t.id, "sample": t.sample, "metric": t.metric, "metrics": t.metrics} for t in top],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


__all__ = ["rank", "write_export"]
