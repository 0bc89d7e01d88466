"""The inline executor: each trial runs in the driver process, inside :meth:`InlineExecutor.submit`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from archspace.evaluate.base import Evaluator
from archspace.experiment.executors.base import Executor
from archspace.experiment.runner import Event, Finished, Reported, Started, run_trial
from archspace.experiment.source import RunSource
from archspace.nn.space import ModelSpace
from archspace.storage.base import TrialStatus


class _TrialTimeout(BaseException):
    """Raised inside an inline trial by the timer (a BaseException so evaluators don't catch it)."""


class InlineExecutor(Executor):
    """Runs each trial in the driver process, one at a time, inside :meth:`submit`: simplest to debug.

    The slot stays taken until :meth:`poll` hands the trial's events over, so the driver records
    and tells each result before it asks for the next sample, as with any executor. The trial
    timeout is enforced with ``SIGALRM`` when running in the main thread. The scheduler's
    :attr:`judge` answers inside the trial's ``ctx.report`` call, so verdicts follow the order of
    reports exactly.
    """

    def __init__(self, concurrency: int = 1, trial_timeout: float | None = None) -> None:
        super().__init__(1, trial_timeout)
        self._done: tuple[int, list[Event]] | None = None  # the trial run, its events not yet polled

    def _start(self, space: ModelSpace, evaluator: Evaluator, source: RunSource | None,
               directory: Path | None) -> None:
        self.space = space
        self.evaluator = evaluator
        self.directory = directory

    def free_slots(self) -> int:
        return 0 if self._done is not None else 1

    def running(self) -> list[int]:
        return [] if self._done is None else [self._done[0]]

    def submit(self, trial_id: int, sample: dict[str, Any]) -> None:
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

            result = run_trial(self.space, self.evaluator, trial_id, sample, report, self.directory,
                               keep_weights=self.keep_weights)
        except _TrialTimeout:
            result = Finished(trial_id, TrialStatus.TIMEOUT, error=f"trial exceeded its timeout of {self.trial_timeout} s")
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        events.append(result)
        self._done = (trial_id, events)

    def poll(self, timeout: float) -> list[Event]:
        done, self._done = self._done, None
        return [] if done is None else done[1]

    def shutdown(self) -> None:
        self._done = None


__all__ = ["InlineExecutor"]
