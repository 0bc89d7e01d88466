"""A background WAL checkpointer: finished results reach the main database file within moments,
off the driver's path.

Why: with WAL, committed transactions live in the ``-wal`` file until a checkpoint copies them
into the main file. If that file is deleted while the driver runs (by hand, or by a tool that
"cleans up") and the driver then dies, everything since the last checkpoint is gone. Copying after
every finished trial closes that window, but each checkpoint syncs two files — about 1.5-3 ms per
trial on the project's machines, more than the whole engine costs otherwise. This thread does it
on its own connection right after each request (requests arriving meanwhile coalesce), so the
driver never waits and a finished result is in the main file a few milliseconds after its commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger("archspace.storage")


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on request, in a daemon thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="archspace-checkpointer", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint soon (cheap; never blocks)."""
        self._wanted.set()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the driver's own writes report real trouble
                    logger.debug("background checkpoint of %s failed: %s", self.path, exc)
        finally:
            db.close()

    def close(self) -> None:
        """Stop the thread (the caller's connection checkpoints on its own close)."""
        self._stopping = True
        self._wanted.set()
        self._thread.join(timeout=30)


__all__ = ["Checkpointer"]
