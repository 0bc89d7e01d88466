"""The dashboard's data layer: experiment directories found under a root, read through the store as JSON.

Why a layer of its own: the server and the HTML report show the same payloads, so both call
:class:`ExperimentData` and neither touches SQL. Every read opens the store read-only
(:class:`~archspace.storage.SQLiteStorage` with ``read_only=True``: no lock, a WAL reader that is
safe while a driver writes, and works on read-only copies), and a snapshot is reused until the
database files change on disk (their sizes and modification times are the revision), so a
dashboard polling a 5,000-trial experiment re-reads it only when a trial was written.

Paths are resolved once, when the root is scanned; the server addresses experiments by their
index in that list, never by a path taken from a request, and an experiment whose directory or
database resolves outside the root (a symlink pointing elsewhere) is left out.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archspace.dashboard.cells import cell_graphs
from archspace.errors import ArchspaceError
from archspace.objectives import ObjectiveError, pareto_indices, parse_objectives
from archspace.storage import EXPERIMENT_DB, StorageError, TrialRecord, TrialStatus, open_database

#: The most trials one page of the trials endpoint returns.
MAX_PAGE = 2000


class DashboardError(ArchspaceError, RuntimeError):
    """The dashboard cannot show what was asked: no experiment under a path, a bad request, a broken store."""


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def find_experiments(root: str | os.PathLike[str]) -> list[Path]:
    """The experiment directories at ``root``: itself when it holds ``experiment.db``, else its
    sub-directories that do (one level, sorted by name), resolved.

    Raises:
        DashboardError: ``root`` does not exist or holds no experiment.
    """
    given = Path(root)
    if not given.exists():
        raise DashboardError(f"{str(given)!r} does not exist; give an experiment directory (one that holds "
                             f"{EXPERIMENT_DB}) or a folder of them")
    if not given.is_dir():
        raise DashboardError(f"{str(given)!r} is not a directory; give an experiment directory (one that holds "
                             f"{EXPERIMENT_DB}) or a folder of them")
    base = given.resolve()
    if (given / EXPERIMENT_DB).exists() or (given / EXPERIMENT_DB).is_symlink():
        candidates = [given]
    else:
        candidates = sorted((p for p in given.iterdir() if (p / EXPERIMENT_DB).exists() or (p / EXPERIMENT_DB).is_symlink()),
                            key=lambda p: p.name)
    found = []
    for candidate in candidates:
        try:
            directory = candidate.resolve()
        except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
            continue
        if not _inside(directory, base):  # a symlinked experiment leading outside the root is not served
            continue
        try:
            database = (candidate / EXPERIMENT_DB).resolve()
        except (RuntimeError, OSError):
            # a database that is a symlink loop: listed, and flagged as unreadable when read, as a
            # FIFO or a damaged file is, while the other experiments are shown
            found.append(directory)
            continue
        if _inside(database, directory):  # nor a database leading out of its experiment
            found.append(directory)
    if not found:
        raise DashboardError(f"{str(given)!r} holds no experiment: no {EXPERIMENT_DB} in it or in its sub-directories "
                             "(symlinks leading outside it are not followed)")
    return found


def _finite(value: Any) -> Any:
    """JSON data with NaN and infinities spelt as strings (browsers' JSON.parse refuses the bare words)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(payload: Any) -> str:
    """``payload`` as strict JSON (non-finite numbers as strings)."""
    try:
        return json.dumps(payload, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(payload), allow_nan=False, separators=(",", ":"))


def _trial_row(t: TrialRecord) -> dict[str, Any]:
    metric = t.metric if t.metric is None or math.isfinite(t.metric) else None
    return {"id": t.id, "status": t.status.value, "metric": metric, "metrics": t.metrics, "sample": t.sample,
            "duration": t.duration, "error": t.error, "worker": t.worker, "started_at": t.started_at,
            "ended_at": t.ended_at, "intermediates": [list(p) for p in t.intermediates]}


@dataclass
class Snapshot:
    """One read of an experiment's store: what every endpoint answers from."""

    revision: str
    config: dict[str, Any]
    trials: list[dict[str, Any]]
    epochs: list[dict[str, Any]]
    bad_rows: list[str]
    error: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)


class ExperimentData:
    """One experiment directory, read on demand through a read-only store.

    Args:
        key: its index in the dashboard's list (what URLs name).
        directory: the resolved experiment directory.
        name: the name shown (relative to the root the dashboard was given).
    """

    def __init__(self, *, key: int, directory: Path, name: str) -> None:
        self.key = key
        self.directory = directory
        self.name = name
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    @property
    def database(self) -> Path:
        """The store's file."""
        return self.directory / EXPERIMENT_DB

    def _revision(self) -> str:
        parts = []
        for suffix in ("", "-wal"):
            try:
                st = os.stat(str(self.database) + suffix)
                parts.append(f"{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append("-")
        return "/".join(parts)

    def snapshot(self) -> Snapshot:
        """The current snapshot, re-read when the database files changed since the last one."""
        with self._lock:
            revision = self._revision()
            if self._snapshot is None or self._snapshot.revision != revision:
                self._snapshot = self._read(revision)
            return self._snapshot

    def _read(self, revision: str) -> Snapshot:
        if revision.startswith("-"):
            why = ("a symlink that loops or leads nowhere" if self.database.is_symlink()
                   else "was the directory moved or deleted?")
            return Snapshot(revision, {}, [], [], [], error=f"no experiment database at {str(self.database)!r} "
                                                             f"({why})")
        try:
            storage = open_database(self.database, read_only=True)
        except StorageError as exc:
            return Snapshot(revision, {}, [], [], [], error=str(exc))
        try:
            config = storage.get_config() or {}
            trials = [_trial_row(t) for t in storage.trials()]
            bad = [f"trial {b.id}: {b.reason}" for b in storage.bad_rows]
            epochs = storage.epochs()
        except StorageError as exc:
            return Snapshot(revision, {}, [], [], [], error=str(exc))
        finally:
            storage.close()
        return Snapshot(revision, config, trials, epochs, bad)

    # Payloads ------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Status counts, best trial, elapsed time, the stored config and the decision labels."""
        snap = self.snapshot()
        head: dict[str, Any] = {"key": self.key, "name": self.name, "directory": str(self.directory),
                                "revision": snap.revision, "error": snap.error}
        if snap.error is not None:
            return head
        if "summary" in snap.cache:
            return {**snap.cache["summary"], **head}
        config = snap.config
        direction = str(config.get("direction", "maximize"))
        counts = {s.value: 0 for s in TrialStatus}
        labels: dict[str, None] = {}
        best: dict[str, Any] | None = None
        for t in snap.trials:
            counts[t["status"]] += 1
            for label in t["sample"]:
                labels.setdefault(label, None)
            m = t["metric"]
            if t["status"] == TrialStatus.SUCCEEDED.value and m is not None and (
                    best is None or (m > best["metric"] if direction == "maximize" else m < best["metric"])):
                best = {"id": t["id"], "metric": m, "sample": t["sample"]}
        starts = [t["started_at"] for t in snap.trials if t["started_at"]]
        ends = [t["ended_at"] for t in snap.trials if t["ended_at"]]
        created = config.get("created") if isinstance(config.get("created"), (int, float)) else None
        first = created if created is not None else (min(starts) if starts else None)
        running = counts[TrialStatus.RUNNING.value] + counts[TrialStatus.QUEUED.value]
        last = time.time() if running else (max(ends) if ends else None)
        objectives = _objectives(config)
        summary = {
            "config": config, "direction": direction, "kind": config.get("kind", "multi-trial"),
            "strategy": config.get("strategy"), "counts": counts, "total": len(snap.trials), "best": best,
            "elapsed": (last - first) if first is not None and last is not None else None,
            "state": "running" if running else "stopped", "decisions": list(labels),
            "objectives": [[o, d] for o, d in objectives], "bad_rows": snap.bad_rows,
            "epochs": len(snap.epochs), "search_seconds": _search_seconds(snap.epochs),
        }
        if not running:
            snap.cache["summary"] = summary
        return {**summary, **head}

    def trials(self, *, offset: int = 0, limit: int = 500) -> dict[str, Any]:
        """One page of trials (by id): ``{"total", "offset", "limit", "trials"}``."""
        if offset < 0 or limit < 1 or limit > MAX_PAGE:
            raise DashboardError(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}, got offset={offset}, "
                                 f"limit={limit}")
        snap = self.snapshot()
        return {"key": self.key, "revision": snap.revision, "error": snap.error, "total": len(snap.trials),
                "offset": offset, "limit": limit, "trials": snap.trials[offset:offset + limit]}

    def epochs(self) -> dict[str, Any]:
        """A one-shot search's epochs (losses, validation metric, distributions) and its cells as graphs."""
        snap = self.snapshot()
        final = snap.epochs[-1].get("sample") if snap.epochs else None
        if not isinstance(final, dict):
            done = [t for t in snap.trials if t["status"] == TrialStatus.SUCCEEDED.value]
            final = done[-1]["sample"] if done else None
        return {"key": self.key, "revision": snap.revision, "error": snap.error, "epochs": snap.epochs,
                "cells": cell_graphs(final) if isinstance(final, dict) else []}

    def pareto(self) -> dict[str, Any]:
        """Each succeeded trial's objective values and the ids on the Pareto front (empty without objectives)."""
        snap = self.snapshot()
        if "pareto" in snap.cache:
            return dict(snap.cache["pareto"])
        objectives = _objectives(snap.config)
        out: dict[str, Any] = {"key": self.key, "revision": snap.revision, "error": snap.error,
                               "objectives": [[o, d] for o, d in objectives], "points": [], "front": []}
        if len(objectives) >= 2:
            points = []
            for t in snap.trials:
                values = [t["metrics"].get(name) for name, _ in objectives]
                if t["status"] == TrialStatus.SUCCEEDED.value and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                    points.append({"id": t["id"], "values": [float(v) for v in values]})
            try:
                parsed = parse_objectives([tuple(o) for o in objectives])
                front = pareto_indices([p["values"] for p in points], parsed)
            except ObjectiveError:
                front = []
            out["points"], out["front"] = points, [points[i]["id"] for i in front]
        snap.cache["pareto"] = out
        return out

    def everything(self) -> dict[str, Any]:
        """Every payload at once (what the self-contained report embeds)."""
        snap = self.snapshot()
        return {"summary": self.summary(), "trials": snap.trials, "epochs": self.epochs(), "pareto": self.pareto()}


def _search_seconds(epochs: Sequence[Mapping[str, Any]]) -> float | None:
    """A one-shot search's time: the sum of its epochs' ``seconds`` (None without any). Its one
    stored trial is written when the search ends, so that trial's own duration is about zero."""
    times = [r["seconds"] for r in epochs
             if isinstance(r.get("seconds"), (int, float)) and not isinstance(r.get("seconds"), bool)
             and math.isfinite(r["seconds"])]
    return float(sum(times)) if times else None


def _objectives(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = config.get("objectives")
    if not isinstance(found, list):
        return []
    return [(str(o[0]), str(o[1])) for o in found if isinstance(o, (list, tuple)) and len(o) == 2]


def open_experiments(root: str | os.PathLike[str]) -> list[ExperimentData]:
    """Every experiment under ``root`` (see :func:`find_experiments`), named relative to it."""
    directories = find_experiments(root)
    base = Path(root).resolve()
    return [ExperimentData(key=i, directory=d, name=(str(d.relative_to(base)) if d != base else d.name) or str(d))
            for i, d in enumerate(directories)]


def check_readable(experiments: Sequence[ExperimentData]) -> list[str]:
    """The problems of experiments whose store cannot be read (empty when all are fine)."""
    problems = []
    for exp in experiments:
        error = exp.snapshot().error
        if error is not None:
            problems.append(f"{exp.name}: {error}")
    return problems


__all__ = ["MAX_PAGE", "DashboardError", "ExperimentData", "Snapshot", "check_readable", "find_experiments",
           "open_experiments", "to_json"]
