"""A count of task completions that an in-process client can wait on.

The local target runs the emulator in the run's own process: its watch loop waits here for
the next completion instead of sleeping a poll interval, so a finished upstream task's
dependents are made as soon as it completes, and a quiet run polls only when something ends.
"""

from __future__ import annotations

import threading


class Completions:
    """How many tasks have completed since the service started; ``wait_past`` blocks until
    the count moves past what the caller saw (or a timeout)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._count = 0

    @property
    def count(self) -> int:
        with self._cond:
            return self._count

    def note(self) -> None:
        """A task completed (its completion committed)."""
        with self._cond:
            self._count += 1
            self._cond.notify_all()

    def wait_past(self, seen: int, timeout: float, need: int = 1) -> int:
        """The count once it is ``need`` past ``seen`` (or below it: counted since a later
        start), or after ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: not seen <= self._count < seen + need, timeout)
            return self._count
