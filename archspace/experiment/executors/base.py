"""Executors: where trials run. The engine talks to them through four calls.

``start`` gets the space, the evaluator and the experiment directory (where each trial's output
folder goes; None in memory) once; ``submit`` hands one trial to a free slot; ``poll``
returns what happened since (starts, intermediate reports, ends, including crashes and timeouts);
``shutdown`` stops everything. A cluster executor (Ray) implements the same four calls.
"""

from __future__ import annotations

import signal
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from archspace._threads import fair_threads
from archspace.evaluate.base import Evaluator
from archspace.experiment.runner import Event, Finished, Reported, Started, run_trial
from archspace.nn.space import ModelSpace
from archspace.storage.base import TrialStatus

#: ``judge(trial_id, step, value) -> stop?``: the driver's verdict on an intermediate result.
Judge = Callable[[int, int, float], bool]


class Executor(ABC):
    """Runs trials; see the module docstring for the protocol.

    Early stopping: before ``start`` the driver may set :attr:`judge`. An executor calls it (in the
    driver process) with every intermediate result it receives, and when it answers True the
    trial must stop: the trial's ``ctx.report`` raises :class:`~archspace.evaluate.base.TrialPruned`
    (or ``ctx.should_stop()`` turns True) where the executor can deliver the verdict before the
    evaluator goes on, else the executor cancels the trial. Either way the trial ends with one
    ``Finished(trial_id, TrialStatus.PRUNED, metric=<last reported value>)`` event.
    """

    #: Set by the driver before :meth:`start`; None means "never stop a trial early".
    judge: Judge | None = None

    def __init__(self, concurrency: int = 1, trial_timeout: float | None = None) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        if trial_timeout is not None and trial_timeout <= 0:
            raise ValueError(f"trial_timeout must be positive seconds or None, got {trial_timeout!r}")
        self.concurrency = concurrency
        self.trial_timeout = trial_timeout

    @abstractmethod
    def start(self, space: ModelSpace, evaluator: Evaluator, source: dict[str, str] | None = None,
              directory: Path | None = None) -> None:
        """Prepare to run trials of ``space`` with ``evaluator`` (outputs under ``directory``)."""

    @abstractmethod
    def free_slots(self) -> int:
        """How many more trials can be submitted now."""

    @abstractmethod
    def submit(self, trial_id: int, sample: dict[str, Any]) -> None:
        """Run one trial (only when ``free_slots() > 0``)."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Events since the last poll, waiting up to ``timeout`` seconds for the first."""

    @abstractmethod
    def running(self) -> list[int]:
        """Ids of submitted trials that have not finished."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop all work (running trials are abandoned) and release resources."""


class _TrialTimeout(BaseException):
    """Raised inside an inline trial by the timer (a BaseException so evaluators don't catch it)."""


class InlineExecutor(Executor):
    """Runs each trial in the driver process, one at a time: simplest to debug.

    The trial timeout is enforced with ``SIGALRM`` when running in the main thread. The
    scheduler's :attr:`judge` answers inside the trial's ``ctx.report`` call, so verdicts follow
    the order of reports exactly.
    """

    def __init__(self, concurrency: int = 1, trial_timeout: float | None = None) -> None:
        super().__init__(1, trial_timeout)
        self._queue: deque[tuple[int, dict[str, Any]]] = deque()

    def start(self, space: ModelSpace, evaluator: Evaluator, source: dict[str, str] | None = None,
              directory: Path | None = None) -> None:
        self.space = space
        self.evaluator = evaluator
        self.directory = directory

    def free_slots(self) -> int:
        return 0 if self._queue else 1

    def submit(self, trial_id: int, sample: dict[str, Any]) -> None:
        self._queue.append((trial_id, sample))

    def running(self) -> list[int]:
        return [trial_id for trial_id, _ in self._queue]

    def poll(self, timeout: float) -> list[Event]:
        if not self._queue:
            return []
        trial_id, sample = self._queue[0]
        events: list[Event] = [Started(trial_id, "inline")]
        timer = self.trial_timeout is not None and threading.current_thread() is threading.main_thread()
        previous: Any = None
        if timer:
            def alarm(signum: int, frame: FrameType | None) -> None:
                raise _TrialTimeout()

            previous = signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, float(self.trial_timeout))  # type: ignore[arg-type]
        try:
            def report(step: int, value: float) -> bool:
                events.append(Reported(trial_id, step, value))
                return self.judge is not None and self.judge(trial_id, step, value)  # synchronous verdict

            result = run_trial(self.space, self.evaluator, trial_id, sample, report, self.directory)
        except _TrialTimeout:
            result = Finished(trial_id, TrialStatus.TIMEOUT, error=f"trial exceeded its timeout of {self.trial_timeout} s")
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            self._queue.popleft()
        events.append(result)
        return events

    def shutdown(self) -> None:
        self._queue.clear()


def now() -> float:
    """Monotonic seconds."""
    return time.monotonic()


__all__ = ["Executor", "InlineExecutor", "fair_threads"]
