"""Event-driven dispatch of active tasks onto free node slots.

One thread waits on a ``threading.Condition`` (the service's lock) and is woken by every event
that can make a dispatch possible: a task added or requeued, a slot freed, a node becoming
ready, a dependency satisfied. There is no periodic polling: a pass runs only after a wake-up.

Order: job priority (higher first), then task creation order (FIFO), as Batch schedules.
Placement: nodes are filled in turn (Batch's default ``spread`` fill) or one after the other
(``pack``), each taking a task only if its free slots cover the task's ``requiredSlots``;
a job's ``maxParallelTasks`` caps its running tasks. Dependencies are resolved elsewhere: only
tasks marked ``ready`` are candidates.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from batchflow.emulator.kinds import PrepState
from batchflow.emulator.state import rows
from batchflow.emulator.state.loop import Loop
from batchflow.emulator.state.nodes import Node
from batchflow.emulator.state.rows import QueuedJob
from batchflow.emulator.state.store import Store


@dataclass(frozen=True)
class Candidate:
    """The task chosen for a node; ``woken_at`` is the event that made it dispatchable."""

    job_id: str
    task_id: str
    slots: int
    woken_at: float


class Scheduler:
    """The dispatch loop; ``launch`` is called under the lock and must not block."""

    def __init__(
        self,
        store: Store,
        cond: threading.Condition,
        nodes: Callable[[], Iterable[Node]],
        launch: Callable[[Node, Candidate], None],
        running: Callable[[str], int],
        on_death: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._store = store
        self._running = running
        self._cond = cond
        self._nodes = nodes
        self._launch = launch
        self._thread = Loop("batch-scheduler", cond, self._loop, on_death)
        self._woken_at: float | None = None
        # Per job, a counter bumped whenever its tasks become ready; a (job, free slots) pair
        # found with nothing to run is not queried again until the counter moves.
        self._versions: dict[str, int] = {}
        self._empty: dict[tuple[str, int], int] = {}
        self.latencies: deque[float] = deque(maxlen=100_000)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    def wake(self) -> None:
        """Something changed that may allow a dispatch (call with the lock held or not)."""
        with self._cond:
            if self._woken_at is None:
                self._woken_at = time.perf_counter()
            self._cond.notify_all()

    def touch(self, job_id: str) -> None:
        """Tasks of ``job_id`` became ready (added, retried, requeued, unblocked)."""
        with self._cond:
            key = job_id.lower()
            self._versions[key] = self._versions.get(key, 0) + 1
            if len(self._empty) > 10_000:  # forget marks of long-gone jobs now and then
                self._empty.clear()
            if self._woken_at is None:
                self._woken_at = time.perf_counter()
            self._cond.notify_all()

    def dispatch_now(self) -> None:
        """Run a dispatch pass in the calling thread: a finishing task's own thread uses it to
        hand its slot on at once, without a switch to the scheduler thread."""
        with self._cond:
            if not self._thread.stopped:
                self._dispatch(time.perf_counter())

    def record_latency(self, woken_at: float) -> None:
        """A process started: store the delay since the event that allowed it."""
        self.latencies.append(time.perf_counter() - woken_at)

    def _loop(self) -> None:
        with self._cond:
            while not self._thread.stopped:
                woken_at = self._woken_at or time.perf_counter()
                self._woken_at = None
                self._dispatch(woken_at)
                if self._woken_at is None and not self._thread.stopped:
                    self._cond.wait()

    def _dispatch(self, woken_at: float) -> None:
        jobs_by_pool: dict[str, list[QueuedJob]] = {}
        progress = True
        while progress:
            progress = False
            for node in list(self._nodes()):
                pool = node.pool_id.lower()
                if pool not in jobs_by_pool:
                    jobs_by_pool[pool] = self._jobs(pool)
                # spread: one task per node per round; pack: fill this node first.
                while node.free_slots() > 0:
                    found = self._pick(node, jobs_by_pool[pool], woken_at)
                    if found is None:
                        break
                    self._launch(node, found)
                    progress = True
                    if not node.pack:
                        break

    def _jobs(self, pool_id: str) -> list[QueuedJob]:
        return rows.active_jobs(self._store, pool_id)

    def _pick(self, node: Node, jobs: list[QueuedJob], woken_at: float) -> Candidate | None:
        free = node.free_slots()
        best: tuple[int, int, int, str, str, int] | None = None
        for job in jobs:
            if best is not None and job.priority < -best[0]:
                break
            if node.prep.get(job.id.lower()) == PrepState.FAILED:
                continue
            if job.max_parallel >= 0 and self._running(job.id) >= job.max_parallel:
                continue
            mark = (job.id.lower(), free)
            version = self._versions.get(mark[0], 0)
            if self._empty.get(mark) == version:
                continue
            task = rows.next_ready_task(self._store, job.id, free)
            if task is None:
                self._empty[mark] = version
                continue
            # jobDefaultOrder creationtime: older jobs first; otherwise oldest task first.
            job_order = job.seq if node.jobs_by_creation else 0
            key = (-job.priority, job_order, task.seq, job.id, task.id, task.slots)
            if best is None or key < best:
                best = key
        if best is None:
            return None
        return Candidate(job_id=best[3], task_id=best[4], slots=best[5], woken_at=woken_at)
