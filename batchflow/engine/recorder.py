"""The observer that writes a run's record while the run goes, fed by its progress events.

It sits between the engine and the display (``wrap``): on the watch stage's polls it lists
the job's completed tasks and appends those it has not recorded yet, and it lists a few of
the running ones for the live display. Listing is one filtered call, of the tasks completed
since the last listing saw (``stateTransitionTime ge``, see ``Recorder._filter``), so
each task is read about once, not at every listing; it is throttled by its own cost: the
next listing waits ``COST_FACTOR`` times as long as the last one took, at least
``MIN_GAP_S``, keeping the record's share of a run's time near 1/COST_FACTOR. When the watch
ends, one last listing records the rest; when collecting ends (before cleanup deletes the
job) the logs of failed tasks (or of all tasks, if the spec asks) are saved.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from batchflow.engine.events import (
    Event,
    EventSink,
    RunningTasks,
    StageDone,
    StepCounts,
    StepProgress,
    TaskFinished,
    WatchProgress,
)
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BatchService, TaskInfo
from batchflow.engine.records import LOGS, RecordWriter, TaskRecord, iso
from batchflow.engine.tasks import all_tasks
from batchflow.errors import BackendError
from batchflow.plan_model import Plan
from batchflow.redact import redact, redact_task_bytes

COMPLETED = "state eq 'completed'"
RUNNING = "state eq 'running'"
COST_FACTOR = 50.0
FEW_LEFT = 400  # at the end, fewer unrecorded tasks than this are listed by id
IDS_PER_LISTING = 40
MIN_GAP_S = 1.0
SHOWN_RUNNING = 5
# How much earlier than the service's times a completion may become visible to a listing
# (a distributed service does not commit completions in the order it stamps them).
SINCE_MARGIN = _dt.timedelta(seconds=2)
LOG_BYTES = 64 << 10  # the tail of each stdout/stderr kept per task
LOGS_BUDGET = 256 << 20  # all tasks' kept logs together, at most


def step_of(task_id: str, steps: frozenset[str]) -> str | None:
    """The step a task id belongs to (``<step>-<id>``, or the step's own name)."""
    head = task_id.split("-", 1)[0]
    return head if head in steps else None


class Recorder:
    """Writes the task lines and saved logs of one run (see the module docstring)."""

    def __init__(
        self,
        writer: RecordWriter,
        plan: Plan,
        batch: BatchService,
        keep_logs: str = "failed",
        clock: Callable[[], float] = time.monotonic,
        margin: _dt.timedelta = SINCE_MARGIN,
    ) -> None:
        self.writer, self.plan, self.batch, self.keep_logs = writer, plan, batch, keep_logs
        self.clock, self.margin = clock, margin
        # Every task that completed before this time (the service's) has been recorded.
        self.since: _dt.datetime | None = None
        self.by_time = True  # False once the service refused the time filter
        self.steps = frozenset(s.name for s in plan.steps)
        tasks = list(all_tasks(plan))  # rendered once: a sweep of 100,000 tasks is not cheap
        self.ids = [t.id for t in tasks]
        self.outputs = {t.id.lower(): tuple(o.pattern for o in t.outputs) for t in tasks}
        self.recorded: dict[str, TaskRecord] = {}
        self.next_listing = 0.0
        self.spent = 0.0  # seconds the run spent recording (its cost, measured)
        self.fresh: list[TaskRecord] = []  # recorded, not yet told to the display
        # Per step (workflows only): completed and running as last listed, tasks in the job.
        self.done_by_step: dict[str, list[int]] = {s.name: [0, 0] for s in plan.steps}
        self.running_by_step: dict[str, int] = {}
        self.in_job: dict[str, int] = {}
        self.total_listed = -1  # the watch total when the job's task ids were last listed
        self.total = 0

    def wrap(self, inner: EventSink) -> EventSink:
        """A sink that records, then passes every event on to ``inner``."""

        def sink(event: Event) -> None:
            t0 = time.perf_counter()
            self.observe(event, inner)
            self.spent += time.perf_counter() - t0
            inner(event)

        return sink

    def observe(self, event: Event, inner: EventSink) -> None:
        """Record what ``event`` says or implies."""
        if isinstance(event, StageDone):
            self.writer.write("stage", stage=event.stage, seconds=round(event.seconds, 3))
            if event.stage == "watch":
                self.sweep(final=True)
                self.running_by_step = {}
                self.tell(inner, final=True)
            elif event.stage == "collect":
                self.save_logs()
        elif isinstance(event, WatchProgress):
            self.total = event.total  # every poll's: the final totals need the last one
            if self.clock() >= self.next_listing:
                self.listings(event, inner)

    def listings(self, event: WatchProgress, inner: EventSink) -> None:
        """The throttled listings of a watch poll, and what they tell the display."""
        t0 = self.clock()
        if event.done > len(self.recorded):
            self.sweep(final=False)
        if event.running:
            self.show_running(inner)
        else:
            self.running_by_step = {}
        self.tell(inner, final=False)
        self.next_listing = self.clock() + max(MIN_GAP_S, COST_FACTOR * (self.clock() - t0))

    def tell(self, inner: EventSink, final: bool) -> None:
        """Pass on what the listings found: the newly completed tasks, and the steps'
        counts (re-listing the job's task ids first if the watch's total moved)."""
        fresh, self.fresh = self.fresh, []
        for r in fresh:
            inner(
                TaskFinished(
                    "watch",
                    r.state,
                    task_id=r.id,
                    step=r.step,
                    result=r.result,
                    exit_code=r.exit_code,
                )
            )
        if not self.done_by_step:
            return
        if self.total != self.total_listed:
            try:
                names = self.batch.list_task_fingerprints(self.plan.job.id)
            except BackendError:
                names = None  # the last totals stand; the next listing tries again
            if names is not None:
                self.total_listed = self.total
                self.in_job = {}
                for task_id in names:
                    step = step_of(task_id, self.steps)
                    if step is not None:
                        self.in_job[step] = self.in_job.get(step, 0) + 1
        steps = tuple(self._counts(s.name, s.dynamic) for s in self.plan.steps)
        inner(StepProgress("watch", "steps", steps=steps, final=final))

    def _counts(self, step: str, dynamic: bool) -> StepCounts:
        ok, failed = self.done_by_step[step]
        running = self.running_by_step.get(step, 0)
        # The ids listing may be older than the completions: a total never below what ran.
        total = max(self.in_job.get(step, 0), ok + failed + running)
        return StepCounts(step, total, ok, failed, running, dynamic)

    def sweep(self, final: bool) -> None:
        """Record the completed tasks not recorded yet. A failed listing during the watch is
        skipped (the next one catches up); the final one is retried, and lists only the
        tasks still unrecorded when they are few (by id: far cheaper than all of them) and
        all known in advance."""
        try:
            if not final:
                self._record_since(lambda: self.batch.list_tasks(self.plan.job.id, self._filter()))
                return
            left = [i for i in self.ids if i not in self.recorded]
            # Dynamic steps' tasks are not among the plan's ids: only a listing finds them.
            if len(left) > FEW_LEFT or any(s.dynamic for s in self.plan.steps):
                self._record_since(lambda: self._listed(self._filter()))
                return
            for n in range(0, len(left), IDS_PER_LISTING):
                chunk = left[n : n + IDS_PER_LISTING]
                ids = " or ".join("id eq '{}'".format(i.replace("'", "''")) for i in chunk)
                self._record_all(self._listed(f"{COMPLETED} and ({ids})"))
        except BackendError:
            return

    def _filter(self) -> str:
        """The completed tasks not known to be recorded: all of them until a listing has
        seen some, then those whose completion the service stamped at ``since`` or later."""
        if self.since is None:
            return COMPLETED
        since = self.since.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return f"{COMPLETED} and stateTransitionTime ge DateTime'{since}'"

    def _record_since(self, listing: Callable[[], list[TaskInfo]]) -> None:
        """Record what ``listing`` (of ``_filter()``) finds, and move ``since`` on.

        The new ``since`` comes from the service's times, never this machine's clock: the
        newest completion listed, less how long the listing took (a completion stamped while
        it ran may have been missed by a page read before it) and less ``margin``."""
        started = time.monotonic()
        try:
            infos = listing()
        except BackendError:
            if self.since is None:
                raise
            # A service that refuses the time filter must not leave the record short: from
            # now on every listing is of all the completed tasks, as before the filter.
            self.since, self.by_time = None, False
            infos = listing()
        took = _dt.timedelta(seconds=time.monotonic() - started)
        self._record_all(infos)
        stamps = [i.state_time for i in infos if i.state_time is not None]
        if stamps and self.by_time:
            since = max(stamps) - took - self.margin
            self.since = since if self.since is None else max(self.since, since)

    def _listed(self, filter: str) -> list[TaskInfo]:
        return retry_transient(lambda: self.batch.list_tasks(self.plan.job.id, filter))

    def _record_all(self, infos: list[TaskInfo]) -> None:
        for info in infos:
            if info.id not in self.recorded:
                rec = self._record(info)
                self.recorded[info.id] = rec
                self.writer.task(rec)
                self.fresh.append(rec)
                counts = self.done_by_step.get(rec.step or "")
                if counts is not None:
                    counts[rec.result != "success"] += 1

    def show_running(self, inner: EventSink) -> None:
        """Tell the display a few ids of the running tasks."""
        try:
            running = self.batch.list_tasks(self.plan.job.id, RUNNING)
        except BackendError:
            return
        ids = tuple(sorted(t.id for t in running)[:SHOWN_RUNNING])
        self.running_by_step = {}
        for t in running:
            step = step_of(t.id, self.steps)
            if step is not None:
                self.running_by_step[step] = self.running_by_step.get(step, 0) + 1
        inner(RunningTasks("watch", "running", ids=ids))

    def _record(self, t: TaskInfo) -> TaskRecord:
        return TaskRecord(
            id=t.id,
            step=step_of(t.id, self.steps),
            state=t.state,
            result=t.result,
            exit_code=t.exit_code,
            retries=t.retry_count,
            requeues=t.requeue_count,
            node=t.node_id,
            start=iso(t.start_time),
            end=iso(t.end_time),
            category=t.failure_category if t.result == "failure" else "",
            message=redact(t.failure_message or t.failure_code) if t.result == "failure" else "",
            outputs=self.outputs.get(t.id.lower(), ()),
        )

    def save_logs(self) -> None:
        """Save the tails of stdout/stderr of the failed tasks (all tasks with ``keep_logs:
        all``) beside the record, before cleanup deletes the job with them."""
        if self.keep_logs == "none":
            return
        wanted = [
            r.id for r in self.recorded.values() if self.keep_logs == "all" or r.result == "failure"
        ]
        folder = self.writer.directory / LOGS
        folder.mkdir(exist_ok=True)
        budget = _Budget(LOGS_BUDGET)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for task_id in wanted:
                for stream in ("stdout", "stderr"):
                    pool.submit(self._save, folder, task_id, stream, budget)
        self.writer.write("logs", saved=len(wanted), kept=self.keep_logs)

    def _save(self, folder: Path, task_id: str, stream: str, budget: _Budget) -> None:
        name = f"{stream}.txt"
        try:
            size = self.batch.task_file_size(self.plan.job.id, task_id, name)
            start = max(0, size - LOG_BYTES)
            if not budget.take(size - start):
                return
            raw = self.batch.read_task_file(self.plan.job.id, task_id, name, start, size - start)
        except BackendError:
            return  # a task that never wrote the file, or a node that is gone
        (folder / f"{task_id}.{stream}.txt").write_bytes(redact_task_bytes(raw))


class _Budget:
    """Bytes left to save, shared by the threads saving logs."""

    def __init__(self, total: int) -> None:
        self.left, self._lock = total, threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if n > self.left:
                return False
            self.left -= n
            return True
