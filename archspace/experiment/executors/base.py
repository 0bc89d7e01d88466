"""The executor interface: where trials run. The driver talks to executors through these calls.

``start`` gets the space, the evaluator, the run's source, the experiment directory (where each
trial's output folder goes; None in memory) and the driver's judge, once. ``submit`` runs or
schedules one trial in a free slot: the inline executor runs it there and then, a pool or a
cluster hands it to a worker. ``poll`` collects what happened since (starts, intermediate
reports, ends, including crashes and timeouts); a trial counts as :meth:`Executor.running` until
``poll`` has handed over its end, and its slot is free again only then, so the driver tells the
strategy every result before it asks for the next sample in that slot. ``shutdown`` stops
everything.
"""

from __future__ import annotations

import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archspace._threads import fair_threads
from archspace.evaluate.base import Evaluator
from archspace.experiment.runner import Event
from archspace.experiment.source import RunSource
from archspace.nn.space import ModelSpace

#: ``judge(trial_id, step, value) -> stop?``: the driver's verdict on an intermediate result.
Judge = Callable[[int, int, float], bool]


class Executor(ABC):
    """Runs trials; see the module docstring for the protocol.

    Early stopping: the driver hands its scheduler's verdict to ``start`` as ``judge`` (or the
    executor's owner sets :attr:`judge` before the run). An executor calls it (in the driver process) with every intermediate result it receives, and when it answers True the
    trial must stop: the trial's ``ctx.report`` raises :class:`~archspace.evaluate.base.TrialPruned`
    (or ``ctx.should_stop()`` turns True) where the executor can deliver the verdict before the
    evaluator goes on, else the executor cancels the trial. Either way the trial ends with one
    ``Finished(trial_id, TrialStatus.PRUNED, metric=<last reported value>)`` event.
    """

    #: The driver's verdict on intermediate results (given to :meth:`start`); None: never stop early.
    judge: Judge | None = None
    #: Whether succeeded trials save their trained weights in their folder (given to :meth:`start`;
    #: the driver deletes those it does not keep). Executors hand it to ``run_trial``.
    keep_weights: bool = False
    #: Processes (ranks) each trial runs as (given to :meth:`start`); see
    #: :mod:`archspace.experiment.executors._ranks`.
    trial_processes: int = 1
    #: Whether the executor can run a trial as several ranks (``trial_processes`` > 1).
    supports_trial_processes: bool = False

    def __init__(self, concurrency: int = 1, trial_timeout: float | None = None) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        if trial_timeout is not None and trial_timeout <= 0:
            raise ValueError(f"trial_timeout must be positive seconds or None, got {trial_timeout!r}")
        self.concurrency = concurrency
        self.trial_timeout = trial_timeout

    def start(self, space: ModelSpace, evaluator: Evaluator, source: RunSource | None = None,
              directory: Path | None = None, *, judge: Judge | None = None, keep_weights: bool = False,
              trial_processes: int = 1) -> None:
        """Prepare to run trials of ``space`` with ``evaluator`` (outputs under ``directory``).

        ``source``: the file the experiment was defined in, which workers in other processes import;
        ``judge``: the driver's verdict on intermediate results (None keeps :attr:`judge`);
        ``keep_weights``: succeeded trials save their trained weights (:attr:`keep_weights`);
        ``trial_processes``: ranks per trial (:attr:`trial_processes`; > 1 only where
        :attr:`supports_trial_processes`).
        """
        check_trial_processes(trial_processes)
        if trial_processes > 1 and not self.supports_trial_processes:
            raise ValueError(f"{type(self).__name__} runs each trial in one process; trial_processes="
                             f"{trial_processes} needs an executor that starts ranks: 'process' or 'ray'")
        if judge is not None:
            self.judge = judge
        self.keep_weights = keep_weights
        self.trial_processes = trial_processes
        self._start(space, evaluator, source, directory)

    @abstractmethod
    def _start(self, space: ModelSpace, evaluator: Evaluator, source: RunSource | None,
               directory: Path | None) -> None:
        """Prepare the workers (the judge, if any, is set already)."""

    @abstractmethod
    def free_slots(self) -> int:
        """How many more trials can be submitted now."""

    @abstractmethod
    def submit(self, trial_id: int, sample: dict[str, Any]) -> None:
        """Run or schedule one trial (only when ``free_slots() > 0``)."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Events since the last poll, waiting up to ``timeout`` seconds for the first."""

    @abstractmethod
    def running(self) -> list[int]:
        """Ids of submitted trials whose end :meth:`poll` has not yet handed over."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop all work (running trials are abandoned) and release resources."""


def check_trial_processes(value: Any) -> int:
    """``trial_processes`` as an int >= 1, else ValueError naming what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"trial_processes must be an int >= 1 (the number of ranks each trial runs as, "
                         f"as torchrun's --nproc-per-node), got {value!r} ({type(value).__name__})")
    return value


def killed_by(code: int | None) -> str | None:
    """``"was killed by SIGKILL (e.g. the out-of-memory killer)"`` for a negative exit code (a
    signal), None for any other."""
    if code is None or code >= 0:
        return None
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    how = f"was killed by {name}"
    if -code == signal.SIGKILL:
        how += " (e.g. the out-of-memory killer)"
    elif -code == signal.SIGSEGV:
        how += " (a segmentation fault)"
    return how


def now() -> float:
    """Monotonic seconds."""
    return time.monotonic()


__all__ = ["Executor", "Judge", "check_trial_processes", "fair_threads", "killed_by", "now"]
