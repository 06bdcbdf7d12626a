"""``Loop``: the daemon thread behind the scheduler and the retention janitor, which both wait on
a condition between passes and must wake at once when stopped.

A body that raises does not die quietly: ``on_death`` hears of it (the service then stops
serving and says why), since a service whose scheduler is gone would answer every poll
while nothing ever runs again."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Loop:
    """Runs ``body`` on a daemon thread. ``body`` loops while ``not stopped``, waiting on
    ``cond``; ``stop()`` sets ``stopped``, wakes it and joins it."""

    def __init__(
        self,
        name: str,
        cond: threading.Condition,
        body: Callable[[], None],
        on_death: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.name = name
        self._on_death = on_death
        self.stopped = False
        self._cond = cond
        self._body = body
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stopped = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._body()
        except BaseException as exc:
            if self._on_death is None:
                raise
            self._on_death(self.name, exc)

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
