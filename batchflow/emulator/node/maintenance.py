"""A node's own operations: reboot, reimage, deallocate and start.

Each takes the node out of service at once (its state shows ``rebooting``, ``reimaging`` or
``deallocating``, so the scheduler places nothing on it), stops its running tasks as the
option says (``requeue``: back to their job's queue; ``terminate``: completed as terminated;
``taskcompletion``/``retaineddata``: let them finish), and, once the last one is gone, does the
work in a thread of its own: a reboot boots the node again (its start task reruns, and job
preparation reruns before the next task of a job), a reimage first wipes the node's disk (task
directories, start task directory, node users), a deallocation leaves it ``deallocated`` (no
core hours counted) until a start boots it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from batchflow.emulator import shapes
from batchflow.emulator.kinds import KillReason, NodeAction, NodeState
from batchflow.emulator.node.allocation import boot
from batchflow.emulator.state import rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.node_ops import stop_runs
from batchflow.emulator.state.nodes import Node

_TRANSIT = {
    NodeAction.REBOOT: NodeState.REBOOTING,
    NodeAction.REIMAGE: NodeState.REIMAGING,
    NodeAction.DEALLOCATE: NodeState.DEALLOCATING,
}


def take_down(core: Core, node: Node, action: NodeAction, option: str) -> None:
    """Begin ``action`` on ``node`` (lock held; its state was checked by the caller)."""
    node.set_state(_TRANSIT[action])
    node.note(f"{action} requested ({option})")
    node.boots += 1
    if option in ("requeue", "terminate"):
        stop_runs(core, node, option)
    if node.start_process is not None:
        node.start_process.kill(KillReason.REQUEUE)
    done = {
        NodeAction.REBOOT: lambda: _reboot(core, node, wipe=False),
        NodeAction.REIMAGE: lambda: _reboot(core, node, wipe=True),
        NodeAction.DEALLOCATE: lambda: _deallocated(core, node),
    }[action]
    threading.Thread(
        target=_when_drained,
        args=(core, node, done),
        daemon=True,
        name=f"{action}-{node.id[:16]}",
    ).start()


def start(core: Core, node: Node) -> None:
    """Start a deallocated node (lock held): it boots, as a new node does, to idle."""
    node.note("start requested")
    node.set_state(NodeState.STARTING)
    rows.open_node_usage(core.store, node.pool_id, node.id, node.vm_size)
    _fresh_boot(core, node)


def _when_drained(core: Core, node: Node, done: Callable[[], None]) -> None:
    """Wait for the node's last task to end, then run ``done`` under the lock, unless the node
    left its pool (removed, pool deleted) or the service is stopping meanwhile."""
    with core.cond:
        core.cond.wait_for(lambda: node.running_tasks == 0 or _gone(core, node))
        if not _gone(core, node):
            done()


def _gone(core: Core, node: Node) -> bool:
    return core.closing or node.leaving or node not in core.nodes.get(node.pool_id.lower(), [])


def _reboot(core: Core, node: Node, wipe: bool) -> None:
    if wipe:
        # A new OS disk: nothing of the old one is left (tasks' files, users, start task).
        core.discard(node.root)
        node.users.clear()
        node.start_task_info = None
    _fresh_boot(core, node)


def _fresh_boot(core: Core, node: Node) -> None:
    # Job preparation reruns on a rebooted node (rerunOnNodeRebootAfterSuccess, true by
    # default), and the pool's current start task runs again.
    node.prep.clear()
    node.prep_locks.clear()
    node.boot_time = shapes.now()
    boot(core, node, core.pool(node.pool_id).get("startTask"))


def _deallocated(core: Core, node: Node) -> None:
    node.set_state(NodeState.DEALLOCATED)
    rows.close_node_usage(core.store, node.id)
