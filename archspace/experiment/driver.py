"""The driver: what every run of an experiment shares, whatever its kind.

An :class:`~archspace.experiment.Experiment` runs either a multi-trial search
(:class:`~archspace.experiment.multi_trial.MultiTrialRun`) or a one-shot search
(:class:`~archspace.experiment.oneshot_run.OneShotRun`). Both are *runs*: peers that know nothing
of each other. The driver gives a run what they have in common and nothing else: the experiment
directory and its OS lock (taken before the store is opened), the log file, Ctrl-C/SIGTERM
handling (:class:`~archspace.experiment._signals.DriverSignals`: stores inside ``critical()``
blocks complete before a signal ends the run), the check that the directory holds this experiment
(or none), and the store, flushed at the end whatever happened. Everything a run needs arrives in
one typed :class:`RunContext`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from archspace.evaluate.base import Evaluator
from archspace.experiment._signals import DriverSignals
from archspace.experiment.errors import ExperimentError
from archspace.experiment.lock import DirectoryLock
from archspace.experiment.scoring import Scoring
from archspace.experiment.source import RunSource
from archspace.nn.space import ModelSpace
from archspace.storage import Storage, StorageError, TrialRecord

#: The experiment's log file, in its directory.
LOG_FILE = "experiment.log"
#: Stored settings that make an experiment what it is: a directory holding other values holds
#: another experiment.
IDENTITY = ("space", "space_fingerprint", "strategy", "direction", "seed", "scheduler", "objectives")


@dataclass(frozen=True)
class RunContext:
    """What the driver hands a run: the experiment's shared parts, opened and checked."""

    space: ModelSpace
    evaluator: Evaluator
    storage: Storage
    signals: DriverSignals
    directory: Path | None
    direction: str
    scoring: Scoring
    source: RunSource | None
    seed: int = 0
    progress: bool | None = None
    threads: int | None = None


class Run(Protocol):
    """One kind of search run by the driver (multi-trial, one-shot)."""

    #: Stored settings that may differ on resume (e.g. a longer budget); updated in the store.
    resumable_settings: tuple[str, ...]

    def run(self, context: RunContext, resume: bool) -> list[TrialRecord]:
        """Run (or resume) the search; every trial recorded, in id order."""
        ...


class Driver:
    """Runs one :class:`Run` in an experiment directory (None: in memory).

    Args:
        directory: the experiment directory.
        open_storage: opens the experiment's store; called after the directory's lock is held.
        signals: the experiment's signal handling (installed for the run, restored after).
    """

    def __init__(self, directory: Path | None, open_storage: Callable[[], Storage], signals: DriverSignals) -> None:
        self.directory = directory
        self.open_storage = open_storage
        self.signals = signals

    def drive(self, run: Run, context: Callable[[Storage], RunContext], config: dict[str, Any],
              resume: bool) -> list[TrialRecord]:
        """Lock the directory, open the log and the store, check ``config`` against the stored one,
        and run; the store is flushed and everything released whatever happens."""
        lock = self._prepare_directory()
        package_logger = logging.getLogger("archspace")
        level = package_logger.level
        log_handler = self._open_log()
        self.signals.install()
        storage: Storage | None = None
        try:
            with self.signals.critical():
                storage = self.open_storage()
                self._check_config(storage, config, resume, run.resumable_settings)
            return run.run(context(storage), resume)
        finally:
            if storage is not None:
                storage.flush()  # the database file alone now holds the whole experiment
            self.signals.restore()
            if log_handler is not None:
                package_logger.removeHandler(log_handler)
                package_logger.setLevel(level)
                log_handler.close()
            if lock is not None:
                lock.release()

    @property
    def where(self) -> str:
        """The directory, as messages name it."""
        return str(self.directory) if self.directory else "memory"

    def _check_config(self, storage: Storage, ours: dict[str, Any], resume: bool, resumable: tuple[str, ...]) -> None:
        stored = storage.get_config()
        where = self.where
        if stored is None:
            if resume:
                raise ExperimentError(f"nothing to resume in {where}: it holds no experiment")
            storage.set_config({**ours, "created": time.time()})
            return
        diffs = [f"{key}: stored {stored.get(key)!r}, now {ours[key]!r}" for key in IDENTITY if stored.get(key) != ours[key]]
        if diffs:
            raise StorageError(f"{where} holds another experiment ({'; '.join(diffs)}); use another directory")
        recorded = storage.trials()  # reads every row, so bad_rows below is complete
        if not resume and recorded:
            raise ExperimentError(f"{where} already holds this experiment's trials; call resume() to continue it")
        if storage.bad_rows:
            bad = ", ".join(f"trial {b.id}: {b.reason}" for b in storage.bad_rows[:5])
            raise StorageError(f"cannot resume {where}: {len(storage.bad_rows)} stored trial(s) cannot be read "
                               f"({bad}); `archspace doctor {where}` reports what is intact")
        storage.set_config({**stored, "source": ours.get("source") or stored.get("source"),
                            **{key: ours[key] for key in resumable if key in ours}})

    def _prepare_directory(self) -> DirectoryLock | None:
        """Create the directory and take its driver lock (before the store is opened)."""
        if self.directory is None:
            return None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = DirectoryLock(self.directory)
            lock.acquire()
        except OSError as exc:
            raise ExperimentError(f"cannot use {str(self.directory)!r} as the experiment directory: "
                                  f"{exc.strerror or exc}; choose a writable directory") from None
        return lock

    def _open_log(self) -> logging.Handler | None:
        if self.directory is None:
            return None
        try:
            handler = logging.FileHandler(self.directory / LOG_FILE)
        except OSError as exc:
            raise ExperimentError(f"cannot write the log in {str(self.directory)!r}: {exc.strerror or exc}") from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("archspace")
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        return handler


__all__ = ["IDENTITY", "LOG_FILE", "Driver", "Run", "RunContext"]
