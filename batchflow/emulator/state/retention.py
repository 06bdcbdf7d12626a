"""Task directory retention: a completed task's directory is removed once its
``constraints.retentionTime`` (default 7 days) has passed, as Batch does.

The expiry is a column of the task's row, so nothing is held in memory per task. One thread
sleeps until the earliest expiry (or until a sooner one is noted) and removes what is due; it
is never on the scheduling path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from batchflow.emulator import trees
from batchflow.emulator.state import rows
from batchflow.emulator.state.loop import Loop
from batchflow.emulator.state.store import Store, StoreClosed

_BATCH = 500


class Janitor:
    """Removes expired task directories under ``data_dir/nodes``."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        on_death: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._store = store
        self._nodes = data_dir / "nodes"
        self._cond = threading.Condition()
        self._next: float | None = None
        self._thread = Loop("batch-retention", self._cond, self._loop, on_death)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    def note(self, expires: float) -> None:
        """A task directory now expires at ``expires`` (epoch seconds)."""
        with self._cond:
            if self._next is None or expires < self._next:
                self._next = expires
                self._cond.notify_all()

    def _loop(self) -> None:
        try:
            with self._cond:
                while not self._thread.stopped:
                    self._sweep(time.time())
                    self._next = rows.earliest_expiry(self._store)
                    timeout = None if self._next is None else max(0.0, self._next - time.time())
                    self._cond.wait(timeout)
        except StoreClosed:
            return

    def _sweep(self, now: float) -> None:
        while True:
            expired = rows.expired_dirs(self._store, now, _BATCH)
            if not expired:
                return
            for d in expired:
                if d.pool_id and d.node_id:
                    trees.discard(
                        self._nodes
                        / d.pool_id
                        / d.node_id
                        / "workitems"
                        / d.job_id
                        / "job-1"
                        / d.task_id
                    )
            rows.clear_expiry(self._store, expired)
