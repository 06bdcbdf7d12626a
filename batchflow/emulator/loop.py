"""``Loop``: the daemon thread behind the scheduler and the retention janitor, which both wait on
a condition between passes and must wake at once when stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Loop:
    """Runs ``body`` on a daemon thread. ``body`` loops while ``not stopped``, waiting on
    ``cond``; ``stop()`` sets ``stopped``, wakes it and joins it."""

    def __init__(self, name: str, cond: threading.Condition, body: Callable[[], None]) -> None:
        self.name = name
        self.stopped = False
        self._cond = cond
        self._body = body
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stopped = False
        self._thread = threading.Thread(target=self._body, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
