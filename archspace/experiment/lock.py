"""One driver per experiment: an advisory lock on the experiment directory.

The driver holds ``<directory>/experiment.lock`` (``flock``, exclusive) for its whole life. The
operating system drops the lock when the process dies, however it dies, so a SIGKILLed driver never
leaves a stale lock behind; the pid written into the file only serves the message that a second
driver gets. Read-only commands (``trials``, ``export``, ``doctor``, the dashboard) take no lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from archspace.errors import ArchspaceError

LOCK_NAME = "experiment.lock"


class ExperimentLockedError(ArchspaceError, RuntimeError):
    """Another driver process is running this experiment."""


class DirectoryLock:
    """An exclusive, process-lifetime lock on an experiment directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ExperimentLockedError` naming the holder's pid."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ExperimentLockedError(
                f"experiment {str(self.path.parent)!r} is already being run by another driver (pid {holder}); "
                "wait for it to finish or stop it (Ctrl-C / SIGTERM), then resume"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; an unlocked file means nothing)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> int | None:
        """The pid of the driver holding the lock now, or None when nobody holds it."""
        if not self.path.exists():
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.pread(fd, 64, 0).decode(errors="replace").strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> DirectoryLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ["LOCK_NAME", "DirectoryLock", "ExperimentLockedError"]
