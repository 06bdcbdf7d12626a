"""The pool's nodes while the tasks run: spot nodes preempted, told as they happen, and a
pool left with no node that can run a task, which ends the run at once.

Azure takes spot (low-priority) nodes back when it needs the capacity: the node goes
``preempted`` and the tasks running on it go back to the queue (a requeue, which does not use
up a retry). The watch's task counts cannot show it (a requeued task is simply active again),
so while the watch polls, this lists the pool's nodes now and then (one call, throttled by
its own cost like the recorder's listings) and says when more nodes were preempted, with the
tasks requeued so far: those not yet completed whose ``requeueCount`` is above 0, listed only
when a preemption was just seen (rare), so a job of 100,000 tasks is not listed on every
poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from batchflow.engine.events import Event, EventSink, StageDone, WatchProgress
from batchflow.engine.pool import LOST, none_usable
from batchflow.engine.protocols import BatchService, NodeInfo
from batchflow.errors import BackendError
from batchflow.plan_model import Plan

MIN_GAP_S = 2.0
COST_FACTOR = 20.0


class NodeWatch:
    """The preempted nodes of the plan's pool seen during the watch (``preempted``); and a
    pool left with no node that can run a task (all unusable, or their start task failed
    when they joined) while tasks wait, which ends the run at once as ``wait_for_nodes``
    would have before the tasks were added: the tasks would wait for the job's timeout."""

    def __init__(
        self, plan: Plan, batch: BatchService, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.pool_id = plan.pool.id
        self.job_id = plan.job.id
        self.batch = batch
        self.clock = clock
        self.plan = plan
        self.preempted: set[str] = set()
        self.requeued: set[str] = set()
        self.next_look = 0.0
        self.nodes: list[NodeInfo] = []

    def wrap(self, inner: EventSink) -> EventSink:
        """A sink that passes every event on, then looks at the nodes on watch polls."""

        def sink(event: Event) -> None:
            if isinstance(event, StageDone) and event.stage == "watch":
                self.look(inner)  # the last look, before the watch says it is done
            inner(event)
            if isinstance(event, WatchProgress) and self.clock() >= self.next_look:
                self.look(inner)
                if event.active:
                    self.stop_if_stuck()

        return sink

    def look(self, inner: EventSink) -> None:
        t0 = self.clock()
        try:
            nodes = self.batch.list_nodes(self.pool_id)
        except BackendError:
            return  # a display's look: the watch itself reports what matters
        finally:
            self.next_look = self.clock() + max(MIN_GAP_S, COST_FACTOR * (self.clock() - t0))
        self.nodes = nodes
        new = {n.id for n in nodes if n.state == "preempted"} - self.preempted
        if new:
            self.preempted |= new
            self.requeued |= self._requeued()
            inner(Event("pool", preempted_text(len(self.preempted), len(self.requeued))))

    def stop_if_stuck(self) -> None:
        """Raise when the last look found nodes, none of which can run a task nor will: all
        unusable or with a failed start task (preempted ones come back, starting ones may)."""
        lost = [n for n in self.nodes if n.state in LOST]
        if lost and len(lost) == len(self.nodes):
            raise none_usable(self.plan, self.batch, lost)

    def _requeued(self) -> set[str]:
        try:
            tasks = self.batch.list_tasks(self.job_id, UNFINISHED)
        except BackendError:
            return set()
        return {t.id for t in tasks if t.requeue_count}


UNFINISHED = "state eq 'active' or state eq 'running'"


def preempted_text(nodes: int, tasks: int) -> str:
    what = "1 spot node" if nodes == 1 else f"{nodes} spot nodes"
    requeued = "1 task" if tasks == 1 else f"{tasks} tasks"
    return (
        f"{what} preempted so far; {requeued} requeued, to run again on another node "
        "(requeues are not retries)"
    )
