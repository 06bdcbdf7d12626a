"""Local nodes joining and leaving a pool: creation, boot through the Batch node states,
the start task (with its retries and ``startTaskInfo``), and removal (requeue, terminate, or
let running tasks finish).

Boot is quick but real: creating -> starting -> waitingforstarttask -> idle (or
starttaskfailed when a start task with waitForSuccess fails). A start task without
waitForSuccess lets tasks run while it is still going, as on Batch.
"""

from __future__ import annotations

import threading
from typing import Any

from batchflow.emulator import shapes
from batchflow.emulator.kinds import (
    FailureCategory,
    Json,
    KillReason,
    NodeState,
    TaskResult,
    TaskState,
)
from batchflow.emulator.node import files
from batchflow.emulator.node.processes import run_process
from batchflow.emulator.state import node_events, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.node_ops import stop_runs
from batchflow.emulator.state.nodes import Node, node_id, with_settings


def add_node(
    core: Core, pool: Json, dedicated: bool, index: int | None = None, generation: int = 0
) -> Node:
    """Create, record and boot one node (lock held)."""
    nodes = core.nodes.setdefault(pool["id"].lower(), [])
    if index is None:
        used = {n.index for n in nodes}
        index = next(i for i in range(len(nodes) + 1) if i not in used)
    ident = node_id(pool["id"], index, generation, dedicated)
    node = Node(
        pool_id=pool["id"],
        id=ident,
        index=index,
        generation=generation,
        dedicated=dedicated,
        slots=int(pool.get("taskSlotsPerNode") or 1),
        root=core.data_dir / "nodes" / pool["id"] / ident,
        vm_size=str(pool.get("vmSize", "")),
    )
    node.apply_policy(pool)
    nodes.append(node)
    rows.put_node(
        core.store, pool["id"], ident, index, node.state, gen=generation, dedicated=dedicated
    )
    rows.open_node_usage(core.store, node.pool_id, ident, node.vm_size)
    boot(core, node, pool.get("startTask"))
    return node


def boot(core: Core, node: Node, start_task: Json | None) -> None:
    """Boot ``node`` in a thread of its own: starting, its start task, then idle."""
    threading.Thread(
        target=_boot,
        args=(core, node, start_task),
        daemon=True,
        name=f"boot-{node.id[:16]}",
    ).start()


def _boot(core: Core, node: Node, start_task: Json | None) -> None:
    with core.lock:
        node.set_state(NodeState.STARTING)
    try:
        node.make_dirs()
    except OSError:
        with core.lock:  # removed meanwhile (its files moved away), or a broken disk
            if not node.leaving:
                node.set_state(NodeState.UNUSABLE)
        return
    with core.lock:
        if node.state in (NodeState.PREEMPTED, NodeState.UNUSABLE):
            return  # taken down by the control while it booted: it stays so
        if node_events.boots_unusable(core, node):
            node.set_state(NodeState.UNUSABLE)
            return
        if not start_task:
            node.set_state(NodeState.READY)
            core.wake()
            return
        wait = start_task.get("waitForSuccess", True)
        node.set_state(NodeState.WAITING_FOR_START_TASK if wait else NodeState.READY)
        core.wake()
    with one_at_a_time(start_task):
        ok = not (core.closing or node.leaving) and _run_start_task(core, node, start_task)
    with core.lock:
        if wait and node.state == NodeState.WAITING_FOR_START_TASK:
            node.set_state(NodeState.READY if ok else NodeState.START_TASK_FAILED)
            core.wake()


# Identical start tasks run one at a time on this host (see README, "Start tasks on one
# machine"): local nodes share one system, and an installer's host-wide lock (apt's, dpkg's)
# taken by one node's start task would fail the others', which N VMs never see.
_SERIAL_GUARD = threading.Lock()
_SERIAL: dict[str, threading.Lock] = {}


def one_at_a_time(start_task: Json) -> threading.Lock:
    """The lock that start tasks with this command line take in turn on this host."""
    key = str(start_task.get("commandLine") or "")
    with _SERIAL_GUARD:
        return _SERIAL.setdefault(key, threading.Lock())


def _run_start_task(core: Core, node: Node, spec: Json) -> bool:
    """Run the start task with its retries; keep ``startTaskInfo`` current on the node."""
    tdir = node.root / "startup"
    env = with_settings(
        node.env(core.account_name, core.account_url), spec.get("environmentSettings")
    )
    env.update({"AZ_BATCH_TASK_DIR": str(tdir), "AZ_BATCH_TASK_WORKING_DIR": str(tdir / "wd")})
    with core.lock:
        command = node_events.injected_start_task(core, node, spec["commandLine"])
    retries = int(spec.get("maxTaskRetryCount") or 0)
    boots = node.boots
    info: Json = {"state": TaskState.RUNNING, "startTime": shapes.now(), "retryCount": 0}
    node.start_task_info = info
    attempt = 0
    while True:
        code: int | None = None
        try:
            files.download_resource_files(spec.get("resourceFiles"), tdir / "wd")
            code, failure = run_process(command, tdir, env, None, lambda p: _started(core, node, p))
        except files.FileError as exc:
            failure = shapes.failure(FailureCategory.USER_ERROR, exc.code, exc.message)
        if code == 0 or core.closing or node.leaving or failure is not None:
            break
        if node.boots != boots:  # the node went down (reboot...): a later boot runs it
            return False
        if retries != -1 and attempt >= retries:
            failure = shapes.exit_failure()
            break
        attempt += 1
        info.update({"retryCount": attempt, "lastRetryTime": shapes.now()})
    node.start_process = None
    ok = code == 0 and failure is None
    node.start_task_info = {
        **info,
        "state": TaskState.COMPLETED,
        "endTime": shapes.now(),
        "result": TaskResult.SUCCESS if ok else TaskResult.FAILURE,
        **({"exitCode": code} if code is not None else {}),
        **({"failureInfo": failure} if failure else {}),
    }
    return ok


def _started(core: Core, node: Node, proc: Any) -> None:
    """Remember the start task's process, in memory to kill it and in the store so that a
    restart after a kill -9 can kill it too."""
    node.start_process = proc
    if not core.closing:
        rows.set_node_process(core.store, node.pool_id, node.id, proc.pid, proc.start_ticks)


def remove_node(core: Core, node: Node, deallocation: str = "requeue") -> None:
    """Take ``node`` out of its pool (lock held); its running tasks are requeued, terminated,
    or (taskcompletion/retaineddata) allowed to finish first."""
    option = deallocation.lower()
    if option in ("taskcompletion", "retaineddata") and node.running_tasks:
        node.leaving = True
        return
    nodes = core.nodes.get(node.pool_id.lower(), [])
    if node in nodes:
        nodes.remove(node)
    node.leaving = True
    if node.start_process is not None:
        node.start_process.kill(KillReason.REQUEUE)
    stop_runs(core, node, "terminate" if option == "terminate" else "requeue")
    rows.delete_node(core.store, node.pool_id, node.id)
    rows.close_node_usage(core.store, node.id)
    core.wake()


def drop_if_drained(core: Core, node: Node) -> None:
    """A leaving node whose last task finished is removed (lock held)."""
    if (
        node.leaving
        and node.running_tasks == 0
        and node in core.nodes.get(node.pool_id.lower(), [])
    ):
        remove_node(core, node)
