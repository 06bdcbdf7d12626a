"""The shared state of one account: store, lock, local nodes, running tasks.

``Core`` is what every operation of ``state/`` takes first, what the HTTP handlers pass them
(``Req.core``) and what ``node/`` acts on. The node side reaches the state through ``Core`` and
is reached from it only through the Protocols below (``Dispatcher``, ``NodeAgent``,
``Killable``), wired by ``service``: nothing here imports ``node/``.

Locking, in one place: one re-entrant lock (``lock``; its condition ``cond`` also wakes the
scheduler) guards every in-memory structure (nodes, running attempts, timers, the job cache).
Documents live in SQLite only, so memory stays flat however many tasks a job holds; the
store's own lock is taken after ``lock``, never before it. No process runs and no thread is
joined under ``lock``; a task's outcome is committed before its slot is freed.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from batchflow.emulator import errors, trees
from batchflow.emulator.kinds import TAKEN_OVER, Json, KillReason, NodeAction
from batchflow.emulator.state import rows
from batchflow.emulator.state.completions import Completions
from batchflow.emulator.state.node_faults import NodeFaults
from batchflow.emulator.state.nodes import Node
from batchflow.emulator.state.quotas import AllocationFailure, Quotas
from batchflow.emulator.state.retention import Janitor
from batchflow.emulator.state.store import Store, StoreFailure

if TYPE_CHECKING:
    from batchflow.emulator.state.autoscaling import Autoscaling
    from batchflow.emulator.state.schedule_runs import JobSchedules

log = logging.getLogger("batchflow.emulator")


class Killable(Protocol):
    """A running process as the state sees it (``node.executor.Process``)."""

    def kill(self, reason: str) -> None: ...


class Dispatcher(Protocol):
    """The scheduler as the state sees it (``node.scheduler.Scheduler``): told when tasks
    become ready or slots free up; it lives in ``node/``, which the state never imports."""

    latencies: deque[float]

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def wake(self) -> None: ...
    def touch(self, job_id: str) -> None: ...
    def dispatch_now(self) -> None: ...
    def record_latency(self, woken_at: float) -> None: ...


class NodeAgent(Protocol):
    """What the state asks of the local nodes (``node.local_nodes.LocalNodes``)."""

    def allocate(self, pool_id: str, deallocation: str = "requeue") -> Json:
        """Bring the pool's local nodes to its targets, mark its allocation steady; the pool."""

    def remove_nodes(self, pool_id: str) -> None:
        """Take every node out of the pool, its running tasks requeued (lock held)."""

    def lose_node(self, pool_id: str, wanted: str | None) -> str:
        """Lose a node (``None``: one running a task) and replace it; the lost node's id."""

    def run_job_task(self, node: Node, job: Json, kind: str) -> bool:
        """Run the job's ``jobPreparationTask`` or ``jobReleaseTask`` on ``node``; success."""

    def remove_node(self, node: Node, deallocation: str) -> None:
        """Take one node out of its pool, its running tasks handled as ``deallocation`` says
        (lock held)."""

    def take_down(self, node: Node, action: NodeAction, option: str) -> None:
        """Reboot, reimage or deallocate ``node``, its running tasks handled as ``option``
        says (lock held)."""

    def start_node(self, node: Node) -> None:
        """Boot a deallocated node again (lock held)."""


class ThreadDied(Exception):
    """A thread of the service raised: it is gone, and the service with it."""

    def __init__(self, name: str, exc: BaseException) -> None:
        self.name = name
        super().__init__(f"its {name} thread failed: {type(exc).__name__}: {exc}")


class Workers:
    """Daemon threads that run task attempts, reused from one attempt to the next: starting a
    thread costs a hand-off on every task, a queue put does not. Grows to the number of
    attempts running at once (bounded by the pools' slots) and never shrinks."""

    def __init__(self, on_death: Callable[[str, BaseException], None] | None = None) -> None:
        """``on_death`` hears of an attempt that raised (its thread serves on)."""
        self._on_death = on_death
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            grow = self._idle == 0
            if not grow:
                self._idle -= 1  # that idle worker will take this job
        self._jobs.put(work)
        if grow:
            threading.Thread(target=self._serve, name="task-worker", daemon=True).start()

    def _serve(self) -> None:
        while True:
            work = self._jobs.get()
            try:
                work()
            except Exception as exc:
                if self._on_death is None:
                    raise
                self._on_death("task-worker", exc)
            with self._lock:
                self._idle += 1


@dataclass
class Run:
    """A task attempt holding slots on a node."""

    job_id: str
    task_id: str
    node: Node
    slots: int
    woken_at: float
    process: Killable | None = None
    # Why the service stopped it: terminate, walltime, requeue, delete or shutdown.
    kill_reason: KillReason | None = None
    # The job preparation task it waits on; killed only when the node or the job goes (a
    # task terminated while preparing leaves the node's preparation to finish).
    prep_process: Killable | None = None

    def kill(self, reason: KillReason) -> None:
        """Ask the attempt to stop (call under the core lock)."""
        if self.kill_reason is None:
            self.kill_reason = reason
        if self.process is not None:
            self.process.kill(reason)
        if self.prep_process is not None and reason in TAKEN_OVER:
            self.prep_process.kill(reason)


@dataclass
class Core:
    """Everything the service's parts share."""

    data_dir: Path
    account_name: str
    nodes_max: int
    store: Store
    account_url: str = ""
    # The account's core quotas, and an allocation failure injected by the control surface.
    quotas: Quotas = field(default_factory=Quotas)
    allocation_failure: AllocationFailure | None = None
    # The applications the account has (Application_List/Get), as configured at start.
    applications: tuple[Json, ...] = ()
    # Faults for nodes not booted yet, and preemption rates (state/node_events.py).
    node_faults: NodeFaults = field(default_factory=NodeFaults)
    lock: threading.RLock = field(default_factory=threading.RLock)
    nodes: dict[str, list[Node]] = field(default_factory=dict)
    running: dict[tuple[str, str], Run] = field(default_factory=dict)
    timers: dict[str, threading.Timer] = field(default_factory=dict)
    workers: Workers = field(init=False)
    job_cache: dict[str, Json] = field(default_factory=dict)
    closing: bool = False
    # Why the service stopped serving: a thread died or the store failed (``fail``).
    failure: BaseException | None = None
    on_failure: Callable[[BaseException], None] | None = None
    cond: threading.Condition = field(init=False)
    scheduler: Dispatcher = field(init=False)
    agent: NodeAgent = field(init=False)
    janitor: Janitor = field(init=False)
    autoscaling: Autoscaling = field(init=False)
    schedules: JobSchedules = field(init=False)
    completions: Completions = field(default_factory=Completions)

    def __post_init__(self) -> None:
        self.cond = threading.Condition(self.lock)
        self.workers = Workers(self.thread_died)

    def fail(self, exc: BaseException) -> None:
        """The service cannot go on (its store failed, a thread of it died): remember the
        first cause, stop scheduling, and tell whoever hosts it. Tasks still running stay
        recorded as running: the next start requeues them, so nothing is lost."""
        with self.lock:
            if self.failure is not None:
                return
            self.failure = exc
            self.closing = True
            self.cond.notify_all()
        if self.on_failure is not None:
            self.on_failure(exc)

    def thread_died(self, name: str, exc: BaseException) -> None:
        """A worker thread raised: log the trace (the emulator's log, never a terminal) and
        take the service down."""
        if isinstance(exc, StoreFailure):
            log.error("%s stopped: %s", name, exc)
            self.fail(exc)
        else:
            log.error("%s died", name, exc_info=exc)
            self.fail(ThreadDied(name, exc))

    def all_nodes(self) -> Iterator[Node]:
        for nodes in list(self.nodes.values()):
            yield from nodes

    def pool_url(self, pool_id: str) -> str:
        return f"{self.account_url}/pools/{pool_id}"

    def node_url(self, node: Node) -> str:
        return f"{self.pool_url(node.pool_id)}/nodes/{node.id}"

    def discard(self, root: Path) -> None:
        """Move the tree ``root`` aside at once, so a new one of the same name starts clean,
        and remove it in the background."""
        if not root.exists():
            return
        trash = self.data_dir / "trash" / uuid.uuid4().hex
        trash.parent.mkdir(parents=True, exist_ok=True)
        root.rename(trash)
        threading.Thread(target=trees.discard, args=(trash,), daemon=True).start()

    def empty_trash(self) -> None:
        """Remove, in the background, what a stop left in the trash (``discard``'s thread is
        a daemon: a stop cuts it short, and each restart of a kept data dir added more)."""
        trash = self.data_dir / "trash"
        # Each entry there now, never the directory itself: ``discard`` may be moving a tree
        # into it meanwhile.
        left = sorted(trash.iterdir()) if trash.is_dir() else []
        if left:
            threading.Thread(target=_discard_all, args=(left,), daemon=True).start()

    def runs_of(self, pred: Callable[[Run], bool]) -> list[Run]:
        with self.lock:
            return [r for r in self.running.values() if pred(r)]

    def wait_runs_gone(self, pred: Callable[[Run], bool], timeout: float = 30.0) -> None:
        """Block until no attempt matches ``pred`` (their threads report on the condition)."""
        with self.cond:
            self.cond.wait_for(
                lambda: not any(pred(r) for r in self.running.values()), timeout=timeout
            )

    # -- documents --------------------------------------------------------------------------
    def job(self, job_id: str) -> Json:
        doc = rows.job_doc(self.store, job_id)
        if doc is None:
            raise errors.job_not_found(job_id)
        return doc

    def job_for_run(self, job_id: str) -> Json:
        """The job as the task runner needs it, from a small cache: jobs are few, and their
        docs change only through ``update`` (which drops the entry) or deletion."""
        key = job_id.lower()
        with self.lock:
            doc = self.job_cache.get(key)
            if doc is None:
                doc = self.job_cache[key] = self.job(job_id)
            return doc

    def pool(self, pool_id: str) -> Json:
        doc = rows.pool_doc(self.store, pool_id)
        if doc is None:
            raise errors.pool_not_found(pool_id)
        return doc

    def task(self, job_id: str, task_id: str) -> Json:
        doc = rows.task_doc(self.store, job_id, task_id)
        if doc is None:
            self.job(job_id)
            raise errors.task_not_found(task_id)
        return doc

    def update_task(
        self, job_id: str, task_id: str, change: Callable[[Json], object], **columns: object
    ) -> Json:
        """Change a task's document and columns (``rows.update_task``): no side effect."""
        return rows.update_task(self.store, job_id, task_id, change, **columns)

    def update_job(
        self, job_id: str, change: Callable[[Json], object], state: str | None = None
    ) -> Json:
        """Change a job's document (and state), dropping its cached copy first."""
        with self.lock:
            self.job_cache.pop(job_id.lower(), None)
        return rows.update_job(self.store, job_id, change, state)

    def update_pool(self, pool_id: str, change: Callable[[Json], object]) -> Json:
        """Change a pool's document; PoolNotFound, as Batch names it, when there is none."""
        try:
            return rows.update_pool(self.store, pool_id, change)
        except errors.BatchServiceError as exc:
            if exc.code != "ResourceNotFound":
                raise
            raise errors.pool_not_found(pool_id) from None

    def kill_all(self, reason: KillReason) -> None:
        """Stop every attempt and start task, and wait (10 s at most) for the attempts to go."""
        with self.lock:
            for run in self.running.values():
                run.kill(reason)
            for node in self.all_nodes():
                node.leaving = True
                if node.start_process is not None:
                    node.start_process.kill(reason)
        self.wait_runs_gone(lambda r: True, timeout=10)

    def reset(self) -> None:
        """Kill everything and forget every pool, job and task."""
        with self.lock:
            for timer in self.timers.values():
                timer.cancel()
            self.timers.clear()
            for run in self.running.values():
                run.kill(KillReason.DELETE)
        self.kill_all(KillReason.DELETE)
        with self.lock:
            self.nodes.clear()
            self.job_cache.clear()
            self.allocation_failure = None
            self.node_faults = NodeFaults()
            self.store.reset()
            self.discard(self.data_dir / "nodes")

    def running_in_job(self, job_id: str) -> int:
        """How many attempts of ``job_id`` hold slots (lock held by the caller)."""
        key = job_id.lower()
        return sum(1 for job, _task in self.running if job == key)

    def wake(self) -> None:
        self.scheduler.wake()

    def touch(self, job_id: str) -> None:
        """Tasks of ``job_id`` became ready to run: tell the scheduler, and wake it."""
        self.scheduler.touch(job_id)


def _discard_all(paths: list[Path]) -> None:
    for path in paths:
        trees.discard(path)
