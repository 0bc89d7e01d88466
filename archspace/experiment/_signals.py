"""The driver's signal handling: SIGINT and SIGTERM stop the loop, never inside a storage write.

SIGTERM is what schedulers send on pre-emption; it is handled exactly like Ctrl-C (running trials
are marked interrupted, the run can be resumed), but raised as :class:`Terminated` so that the
command line can exit with 143 instead of 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """The driver received SIGTERM (a scheduler's pre-emption): handled exactly like Ctrl-C."""


class DriverSignals:
    """SIGINT and SIGTERM for the driver: stop the loop, but never inside a storage write.

    Inside :meth:`critical` a signal is remembered and raised when the block ends, so a new
    trial and the strategy state after its ask, or a result and the strategy checkpoint after its
    tell, are always stored whole.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.pending: BaseException | None = None
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only; a loop in another thread keeps the defaults
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        exc: BaseException = Terminated("SIGTERM") if signum == signal.SIGTERM else KeyboardInterrupt()
        if self.depth:
            self.pending = exc
        else:
            raise exc

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending is not None:
            exc, self.pending = self.pending, None
            raise exc



__all__ = ["DriverSignals", "Terminated"]
