"""A background WAL checkpointer: finished results reach the main database file within moments,
off the driver's path.

Why: with WAL, committed transactions live in the ``-wal`` file until a checkpoint copies them
into the main file. If that file is deleted while the driver runs (by hand, or by a tool that
"cleans up") and the driver then dies, everything since the last checkpoint is gone. Copying after
every finished trial closes that window, but each checkpoint syncs two files — about 1.5-3 ms per
trial on the project's machines, more than the whole engine costs otherwise. A thread does it on
its own connection right after each request (requests arriving meanwhile coalesce), so the driver
never waits and a finished result is in the main file a few milliseconds after its commit. The
thread ends after a while without requests (a store left open holds no thread) and is started
again by the next request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger("archspace.storage")
IDLE_SECONDS = 20.0


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on request, in a daemon thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a checkpoint soon (cheap; never blocks on the checkpoint itself)."""
        with self._lock:
            self._wanted.set()
            if not self._running and not self._stopping:
                self._running = True
                self._thread = threading.Thread(target=self._run, name="archspace-checkpointer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            while True:
                if not self._wanted.wait(timeout=IDLE_SECONDS):
                    with self._lock:
                        if not self._wanted.is_set():
                            self._running = False  # the next request starts a new thread
                            return
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
        with self._lock:
            self._stopping = True
            self._wanted.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)


__all__ = ["Checkpointer"]
