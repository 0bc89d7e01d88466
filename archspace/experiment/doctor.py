"""``archspace doctor DIR``: check an experiment's store, read-only, and say what is wrong.

It checks what a crash, a full disk, a second driver or a damaged file could have broken, and
what resume relies on: SQLite's own page check, the schema, every row's data, contiguous ids,
statuses against the driver lock (trials marked running with no driver alive were in flight at a
crash), the strategy checkpoint against the finished trials (for a one-shot search: its epochs and
checkpoint file instead), the budget, and the experiment file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archspace.errors import ArchspaceError
from archspace.experiment.lock import DirectoryLock
from archspace.experiment.oneshot_run import SELECTION_WORKER, oneshot_directory
from archspace.experiment.source import RunSource
from archspace.oneshot.checkpoint import checkpoint_path
from archspace.space.samples import fingerprint
from archspace.storage import (
    EXPERIMENT_DB,
    SCHEMA_VERSION,
    SQLiteStorage,
    TrialRecord,
    TrialStatus,
    experiment_db,
    open_storage,
)


@dataclass
class Report:
    """What the check found: problems that need action, warnings, and plain facts."""

    directory: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """No errors (warnings may remain)."""
        return not self.errors

    def format(self) -> str:
        """The report as text, one finding a line, the verdict last."""
        lines = [f"experiment {self.directory}"]
        lines += [f"  ok: {f}" for f in self.facts]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  error: {e}" for e in self.errors]
        verdict = "healthy" if self.healthy else f"{len(self.errors)} problem(s) found"
        lines.append(f"{verdict}" + (f", {len(self.warnings)} warning(s)" if self.warnings else ""))
        return "\n".join(lines)


def check_experiment(directory: str | Path) -> Report:
    """Check the experiment in ``directory`` without changing anything."""
    report = Report(str(directory))
    db = experiment_db(directory)
    if not db.is_file():
        report.errors.append(f"no {EXPERIMENT_DB} in {str(directory)!r}")
        return report
    try:
        storage = open_storage(directory, read_only=True)
    except ArchspaceError as exc:
        report.errors.append(str(exc))
        return report
    try:
        _check(storage, Path(directory), report)
    except ArchspaceError as exc:
        report.errors.append(str(exc))
    finally:
        storage.close()
    return report


def _check(storage: SQLiteStorage, directory: Path, report: Report) -> None:
    damage = storage.integrity_errors()
    if damage:
        report.errors.append(f"SQLite integrity check: {'; '.join(damage[:5])}")
    else:
        report.facts.append("database pages intact")
    if storage.schema_version != SCHEMA_VERSION:
        report.warnings.append(f"schema version {storage.schema_version} (current {SCHEMA_VERSION}); "
                               "the next run or resume migrates it")
    config = storage.get_config()
    if config is None:
        report.errors.append("no experiment config stored")
        config = {}
    trials = storage.trials()
    for bad in storage.bad_rows:
        report.errors.append(f"trial {bad.id} cannot be read: {bad.reason}")
    ids = sorted([t.id for t in trials] + [b.id for b in storage.bad_rows])
    missing = sorted(set(range(ids[-1] + 1)) - set(ids)) if ids else []
    if missing:
        report.errors.append(f"trial ids are not contiguous: missing {missing[:20]}")
    counts = Counter(t.status.value for t in trials)
    report.facts.append(f"{len(trials)} trial(s) readable: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))

    holder = DirectoryLock(directory).holder()
    in_flight = [t.id for t in trials if not t.finished]
    if holder is not None:
        report.facts.append(f"a driver is running this experiment now (pid {holder})")
    elif in_flight:
        report.warnings.append(f"{len(in_flight)} trial(s) were in flight when the last driver stopped "
                               f"{in_flight[:20]}; `archspace resume` runs them again")
    for t in trials:
        if t.finished and t.ended_at is None:
            report.errors.append(f"trial {t.id} is {t.status.value} but has no end time")
        if t.status is TrialStatus.SUCCEEDED and t.metric is None:
            report.errors.append(f"trial {t.id} succeeded without a metric")
        if t.status in (TrialStatus.FAILED, TrialStatus.TIMEOUT) and not t.error:
            report.errors.append(f"trial {t.id} is {t.status.value} without an error message")

    finished = {t.id for t in trials if t.finished}
    if config.get("kind") == "oneshot":
        _check_oneshot(storage, directory, config, finished, report)
    else:
        _check_strategy(storage, trials, finished, config, report)
    repeats = [n for n in Counter(fingerprint(t.sample) for t in trials if t.finished).values() if n > 1]
    if repeats:
        report.warnings.append(f"{sum(repeats) - len(repeats)} finished trial(s) repeat an earlier sample")
    _check_source(config.get("source"), report)


def _check_oneshot(storage: SQLiteStorage, directory: Path, config: dict[str, Any], finished: set[int],
                   report: Report) -> None:
    """A one-shot search keeps no strategy checkpoint in the store: its epochs and the trainer's
    checkpoint file tell where it stands, and it ends with one result trial."""
    epochs = storage.epochs()
    numbers = [row["epoch"] for row in epochs]
    if numbers != list(range(len(numbers))):
        report.errors.append(f"one-shot epochs are not contiguous from 0: {numbers[:20]}")
    checkpoint = checkpoint_path(oneshot_directory(directory))
    report.facts.append(f"one-shot search ({config.get('strategy')}): {len(epochs)} epoch(s) recorded; "
                        + ("checkpoint present" if checkpoint.is_file() else "no checkpoint"))
    if epochs and not checkpoint.is_file():
        report.warnings.append(f"epochs are recorded but {str(checkpoint)!r} is missing: resume starts the search over")
    configured = config.get("epochs")
    if isinstance(configured, int) and len(epochs) > configured:
        report.errors.append(f"{len(epochs)} epochs are recorded but the search was configured for {configured}")
    if checkpoint.is_file():
        _check_oneshot_checkpoint(checkpoint, len(epochs), configured, report)
    results = [t for t in storage.trials() if t.finished and t.worker != SELECTION_WORKER]
    if len(results) > 1:
        report.errors.append(f"a one-shot search stores one result trial, found {len(results)}: "
                             f"{[t.id for t in results][:10]}")
    if results and isinstance(configured, int) and len(epochs) < configured:
        report.errors.append(f"the search stored its result after {len(epochs)} of its {configured} epochs")


def _check_oneshot_checkpoint(path: Path, recorded: int, configured: Any, report: Report) -> None:
    """The trainer's checkpoint loads safely and agrees with the epochs the store recorded: the
    store writes an epoch's row after its checkpoint, so the checkpoint is at most one ahead."""
    from archspace.oneshot.checkpoint import CheckpointError, read_checkpoint

    try:
        state = read_checkpoint(path)
    except CheckpointError as exc:
        report.errors.append(f"{exc}; resume would refuse it (delete it to start the search over)")
        return
    epoch = int(state["epoch"])
    report.facts.append(f"checkpoint after epoch {epoch}")
    if isinstance(configured, int) and epoch > configured:
        report.errors.append(f"{str(path)!r} is after epoch {epoch} but the search has {configured} epochs: "
                             "it belongs to another search")
    elif epoch < recorded:
        report.errors.append(f"{str(path)!r} is after epoch {epoch} but the store recorded {recorded} epochs: "
                             "the checkpoint is older than the store (copied from elsewhere?)")
    elif epoch > recorded + 1:
        report.errors.append(f"{str(path)!r} is after epoch {epoch} but the store recorded only {recorded} epochs")
    elif epoch == recorded + 1:
        report.warnings.append("the checkpoint is one epoch ahead of the store (a crash between the two): "
                               "resume records that epoch from the trainer's history")


def _check_strategy(storage: SQLiteStorage, trials: list[TrialRecord], finished: set[int], config: dict[str, Any],
                    report: Report) -> None:
    state, told = storage.load_strategy()
    if state is None and trials:
        report.warnings.append("no strategy checkpoint: resume starts the strategy afresh")
    told_unfinished = sorted(set(told) - finished - {b.id for b in storage.bad_rows})
    if told_unfinished:
        report.errors.append(f"the strategy was told of trials that are not finished: {told_unfinished[:20]}")
    untold = sorted(finished - set(told))
    if untold:
        report.warnings.append(f"{len(untold)} finished trial(s) not yet told to the strategy {untold[:20]}; "
                               "resume tells them")
    budget = config.get("max_trials")
    if isinstance(budget, int) and len(finished) > budget:
        report.errors.append(f"{len(finished)} finished trials exceed the budget max_trials={budget}")
    elif isinstance(budget, int):
        report.facts.append(f"{len(finished)} of max_trials={budget} finished")


def _check_source(stored: object, report: Report) -> None:
    source = RunSource.from_json(stored)
    if source is None:
        return
    changed = source.changed()
    if changed is None:
        report.warnings.append(f"the experiment file {source.path!r} no longer exists: `archspace resume` cannot run")
    elif changed:
        report.warnings.append(f"the experiment file {source.path!r} changed since the run started "
                               "(resume needs --trust-source)")
    else:
        report.facts.append(f"experiment file {source.path!r} unchanged")


__all__ = ["Report", "check_experiment"]
