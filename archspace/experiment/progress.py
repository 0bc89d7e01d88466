"""What a running experiment shows on the console: a live progress bar (tqdm) and its warnings.

The bar counts trials done, pruned, failed and running, with the best metric so far; it is on by
default when stderr is a terminal, from the ``archspace`` command and from Python alike, and off
with ``progress=False``.

A failed trial's one-line reason is logged as a warning (logger ``archspace.experiment``) when it
happens, and must be seen without opening ``experiment.log``. The ``archspace`` command configures
logging, so its console handler shows it. A Python program usually configures none, and the log
file the run opens stops Python's last-resort handler from printing warnings: for the run, the
warnings of ``archspace`` loggers then go to stderr (:class:`ConsoleWarnings`) — whether or not
the bar is shown. To silence them, configure logging yourself (any handler other than a log file,
e.g. ``logging.getLogger("archspace").addHandler(logging.NullHandler())``, or ``basicConfig``
with the level you want on ``archspace``), or raise the level of ``archspace.experiment``. While
the bar is shown, console log lines are written above it instead of through it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from archspace.storage.base import TrialStatus

#: The logger failed trials are reported on; the echo covers the whole package's loggers.
TRIALS_LOGGER = "archspace.experiment"
PACKAGE_LOGGER = "archspace"
#: The console format of the ``archspace`` command, used for the echo too: one look everywhere.
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"


def _console_configured(logger: logging.Logger) -> bool:
    """Whether a handler other than a log file receives ``logger``'s records (the user's logging setup)."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, logging.FileHandler) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def _write(text: str, stream: TextIO, bar: Any) -> None:
    """``text`` on ``stream``, above the bar when one is drawn (tqdm redraws it below)."""
    if bar is not None:
        from tqdm import tqdm

        tqdm.write(text, file=stream)
    else:
        stream.write(text + "\n")
        stream.flush()


class ConsoleWarnings(logging.Handler):
    """Warnings of ``archspace`` loggers on stderr for one run, when the program shows none itself."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.WARNING)
        self.progress = progress
        self.setFormatter(logging.Formatter(CONSOLE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write(self.format(record), sys.stderr, self.progress._bar)
        except Exception:
            self.handleError(record)


class _AboveBar(logging.Handler):
    """A console handler's output written above the bar (its level, filters and format kept)."""

    def __init__(self, handler: logging.StreamHandler[TextIO], progress: Progress) -> None:
        super().__init__(handler.level)
        self.original = handler
        self.progress = progress
        self.filters = list(handler.filters)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write(self.original.format(record), self.original.stream, self.progress._bar)
        except Exception:
            self.handleError(record)


class Progress:
    """The bar (on when enabled; default: when stderr is a terminal) and the run's console warnings.

    Args:
        total: the trial budget (None: unknown).
        direction: of the metric, for the best so far.
        enabled: show the bar (None: when stderr is a terminal).
        initial: trials recorded before this run (a resume): counted, not drawn again.
    """

    def __init__(self, total: int | None, direction: str, *, enabled: bool | None = None,
                 initial: list[Any] | None = None) -> None:
        self.direction = direction
        self.done = self.failed = self.pruned = 0
        self.running: set[int] = set()
        self.best: float | None = None
        for trial in initial or []:
            self._count(trial.status, trial.metric)
        self._bar: Any = None
        self._echo: ConsoleWarnings | None = None
        self._swapped: list[tuple[int, logging.Handler]] = []
        if not _console_configured(logging.getLogger(TRIALS_LOGGER)):
            self._echo = ConsoleWarnings(self)
            logging.getLogger(PACKAGE_LOGGER).addHandler(self._echo)
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=self.done + self.failed + self.pruned, unit="trial", dynamic_ncols=True,
                             desc="archspace")
            self._lift_console_handlers()
            self._refresh()

    def _lift_console_handlers(self) -> None:
        """Route the root logger's console handlers (the command's) above the bar while it is drawn."""
        root = logging.getLogger()
        for index, handler in enumerate(root.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                    and handler.stream in (sys.stdout, sys.stderr):
                self._swapped.append((index, handler))
                root.handlers[index] = _AboveBar(handler, self)

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
        """Remove the bar, and give logging back as it was (safe to call twice)."""
        root = logging.getLogger()
        for index, handler in reversed(self._swapped):
            if index < len(root.handlers) and isinstance(root.handlers[index], _AboveBar):
                root.handlers[index] = handler
        self._swapped.clear()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._echo is not None:
            logging.getLogger(PACKAGE_LOGGER).removeHandler(self._echo)
            self._echo = None


__all__ = ["CONSOLE_FORMAT", "ConsoleWarnings", "Progress"]
