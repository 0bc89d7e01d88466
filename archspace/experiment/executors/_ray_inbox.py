"""The Ray executor's inbox actor, in a module of its own that imports nothing but the standard
library.

An actor's class reaches its Ray worker pickled; by reference, the worker would import this module
and with it ``archspace`` (and torch): seconds of start-up before the first trial of every
experiment can report that it started. :mod:`.ray` registers this module with Ray's cloudpickle
to be pickled by value, so the actor's process starts with no import of ours. Keep it free of
archspace and third-party imports.
"""

from __future__ import annotations

import threading
from typing import Any


class Inbox:
    """The trials' mailbox (a threaded Ray actor): "started" and reports in, verdicts out.

    With a judge, a report waits here for its verdict, which the driver sends after draining it:
    the verdict on a report is known before the evaluator goes on, as with the process pool, so
    a stopped trial's curve ends with the report that stopped it.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.messages: list[tuple[Any, ...]] = []
        self.verdicts: dict[tuple[int, int, int], bool] = {}

    def started(self, trial_id: int, attempt: int, where: str) -> None:
        with self.lock:
            self.messages.append(("started", trial_id, attempt, where))
            self.lock.notify_all()  # rings the bell

    def report(self, trial_id: int, attempt: int, seq: int, step: int, value: float, judged: bool) -> bool:
        """Record a report; with ``judged``, wait for the driver's verdict (True: stop) and return it."""
        with self.lock:
            self.messages.append(("report", trial_id, attempt, seq, step, value))
            self.lock.notify_all()  # rings the bell
            if not judged:
                return False
            key = (trial_id, attempt, seq)
            while key not in self.verdicts:
                self.lock.wait()
            return self.verdicts.pop(key)

    def answer(self, verdicts: list[tuple[int, int, int, bool]]) -> None:
        with self.lock:
            for trial_id, attempt, seq, stop in verdicts:
                self.verdicts[(trial_id, attempt, seq)] = stop
            self.lock.notify_all()

    def bell(self, timeout: float) -> bool:
        """Return as soon as messages wait (True), or after ``timeout`` seconds (False): the driver
        waits on this together with its tasks, so a report wakes it at once."""
        with self.lock:
            return self.lock.wait_for(lambda: bool(self.messages), timeout)

    def drain(self) -> list[tuple[Any, ...]]:
        with self.lock:
            messages, self.messages = self.messages, []
        return messages
