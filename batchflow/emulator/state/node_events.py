"""What a real account does to nodes, on demand of the control surface: spot nodes preempted
(once or at a rate), nodes that become unusable, start tasks that fail on some nodes only.

Preemption, as the service does it: the spot node goes ``preempted`` and stays in the pool
(``currentLowPriorityNodes`` still counts it, ``$PreemptedNodeCount`` sees it); the tasks
running on it go back to the queue with ``requeueCount`` + 1, which is not a retry (their
``retryCount`` is untouched). When capacity comes back the service gives the pool a node again:
here after ``recover_s`` seconds (0: never; 30 by default, long enough for a client polling
every few seconds to see the node preempted), a fresh node takes the preempted one's place.

An unusable node stays unusable (the service leaves it to the user to reboot, reimage or
remove it); its running tasks are requeued likewise. Faults for nodes not booted yet
(``NodeFaults``) make the next start tasks of a pool end with given exit codes, or the next
nodes boot to ``unusable``: a start task that fails on some nodes and not others.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from batchflow.emulator import errors
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.kinds import Json, KillReason, NodeState
from batchflow.emulator.state import tasks
from batchflow.emulator.state.node_faults import ANY_POOL
from batchflow.emulator.state.nodes import Node

if TYPE_CHECKING:
    from batchflow.emulator.state.core import Core

DEFAULT_RECOVER_S = 30.0
INJECTED_STDERR = "start task failed on this node (exit code {code}, injected by the emulator)"


def set_node_faults(core: Core, body: Json) -> Json:
    """The control's ``nodes/faults``: exit codes for the next start tasks of the pool (each
    taken by one node; 0 lets the real start task run) and how many of its next nodes boot
    unusable. A body without a field leaves that fault as it was."""
    key = str(body.get("poolId") or ANY_POOL).lower()
    with core.lock:
        if "startTaskExitCodes" in body:
            core.node_faults.start_task_exits[key] = [int(c) for c in body["startTaskExitCodes"]]
        if "unusableAtBoot" in body:
            core.node_faults.unusable_at_boot[key] = int(body["unusableAtBoot"])
        return core.node_faults.to_json()


def _take(queue: dict[str, list[int]], pool_id: str) -> int | None:
    for key in (pool_id.lower(), ANY_POOL):
        if queue.get(key):
            return queue[key].pop(0)
    return None


def injected_start_task(core: Core, node: Node, command: str) -> str:
    """The command the start task runs on ``node``: its own, or one that fails with the
    injected exit code (lock held)."""
    code = _take(core.node_faults.start_task_exits, node.pool_id)
    if not code:
        return command
    return f"/bin/sh -c \"echo '{INJECTED_STDERR.format(code=code)}' >&2; exit {code}\""


def boots_unusable(core: Core, node: Node) -> bool:
    """True if ``node`` is one of those its pool's faults make unusable (lock held)."""
    counts = core.node_faults.unusable_at_boot
    for key in (node.pool_id.lower(), ANY_POOL):
        if counts.get(key, 0) > 0:
            counts[key] -= 1
            return True
    return False


def preempt(
    core: Core,
    pool_id: str,
    node_id: str | None = None,
    count: int = 1,
    recover_s: float = DEFAULT_RECOVER_S,
) -> list[str]:
    """Preempt ``count`` spot nodes of the pool (``node_id``: that one), those running tasks
    first; their ids. InvalidOperation when the pool has no spot node to preempt."""
    with core.lock:
        pool = core.pool(pool_id)
        spot = [
            n
            for n in core.nodes.get(pool["id"].lower(), [])
            if not n.dedicated and not n.leaving and n.state != NodeState.PREEMPTED
        ]
        if node_id is not None:
            chosen = [n for n in spot if n.id == node_id]
            if not chosen:
                raise errors.node_not_found(node_id)
        else:
            chosen = sorted(spot, key=lambda n: (-n.running_tasks, n.index))[:count]
        if not chosen:
            raise errors.invalid_operation(f"Pool {pool['id']} has no spot node to preempt.")
        for node in chosen:
            _take_down(core, node, NodeState.PREEMPTED)
            if recover_s > 0:
                _later(core, f"recover:{node.id}", recover_s, _recover, pool["id"], node.id)
    core.wake()
    return [n.id for n in chosen]


def make_unusable(core: Core, pool_id: str, node_id: str | None = None) -> str:
    """A node of the pool (``None``: one running a task) becomes unusable; its id."""
    with core.lock:
        pool = core.pool(pool_id)
        nodes = [n for n in core.nodes.get(pool["id"].lower(), []) if not n.leaving]
        if node_id is not None:
            node = next((n for n in nodes if n.id == node_id), None)
        else:
            node = next(iter(sorted(nodes, key=lambda n: (-n.running_tasks, n.index))), None)
        if node is None:
            raise errors.node_not_found(node_id or "")
        _take_down(core, node, NodeState.UNUSABLE)
    core.wake()
    return node.id


def preempt_every(core: Core, pool_id: str, seconds: float, recover_s: float) -> Json:
    """Preempt one spot node of the pool every ``seconds`` (0: stop); the setting."""
    key = f"preempt-rate:{pool_id.lower()}"
    with core.lock:
        core.pool(pool_id)
        old = core.timers.pop(key, None)
        if old is not None:
            old.cancel()
        core.node_faults.preempt_every.pop(pool_id.lower(), None)
        if seconds > 0:
            core.node_faults.preempt_every[pool_id.lower()] = seconds
            _later(core, key, seconds, _preempt_again, pool_id, seconds, recover_s)
    return {"poolId": pool_id, "everySeconds": seconds}


def _take_down(core: Core, node: Node, state: NodeState) -> None:
    """The node stops (lock held): its start task killed, its running tasks requeued."""
    if node.start_process is not None:
        node.start_process.kill(KillReason.REQUEUE)
    for run in core.runs_of(lambda r: r.node is node):
        run.kill(KillReason.REQUEUE)
        del core.running[(run.job_id.lower(), run.task_id.lower())]
        tasks.requeue(core, run.job_id, run.task_id)
    node.set_state(state)


def _later(core: Core, key: str, seconds: float, action: object, *args: object) -> None:
    """Run ``action(core, *args)`` in ``seconds`` on a timer ``Core.reset`` cancels."""

    def fire() -> None:
        with core.lock:
            if core.timers.get(key) is not timer or core.closing:
                return
            del core.timers[key]
        with contextlib.suppress(BatchServiceError):  # the pool or node went meanwhile
            action(core, *args)  # type: ignore[operator]

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    core.timers[key] = timer
    timer.start()


def _recover(core: Core, pool_id: str, node_id: str) -> None:
    """Capacity is back: a fresh spot node replaces the preempted one."""
    with core.lock:
        nodes = core.nodes.get(pool_id.lower(), [])
        node = next((n for n in nodes if n.id == node_id), None)
        if node is None or node.state != NodeState.PREEMPTED:
            return
    core.agent.lose_node(pool_id, node_id)


def _preempt_again(core: Core, pool_id: str, seconds: float, recover_s: float) -> None:
    with contextlib.suppress(BatchServiceError):  # no spot node now: try again next time
        preempt(core, pool_id, recover_s=recover_s)
    with core.lock:
        if not core.closing and core.node_faults.preempt_every.get(pool_id.lower()) == seconds:
            key = f"preempt-rate:{pool_id.lower()}"
            if key not in core.timers:
                _later(core, key, seconds, _preempt_again, pool_id, seconds, recover_s)


def counts(nodes: Sequence[Node]) -> tuple[int, int]:
    """(preempted, usable) among ``nodes``: what ``$PreemptedNodeCount`` and
    ``$UsableNodeCount`` sample."""
    preempted = sum(1 for n in nodes if n.state == NodeState.PREEMPTED)
    usable = sum(1 for n in nodes if n.state == NodeState.READY and not n.leaving)
    return preempted, usable
