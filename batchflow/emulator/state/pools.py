"""Pools: create, list, resize, update, delete, and their local nodes as the REST API shows
them. Bringing a pool's nodes to its targets is the node side's work (``core.agent``):

A pool of N = targetDedicatedNodes + targetLowPriorityNodes target nodes runs
min(N, nodes_max, os.cpu_count()) local nodes, dedicated ones first; currentDedicatedNodes and
currentLowPriorityNodes report that real split, so a pool asking for more nodes than the machine
has shows fewer current nodes than targets. Allocation takes milliseconds but passes through
the node states Batch shows (creating -> starting -> waitingforstarttask -> idle, or
starttaskfailed).
"""

from __future__ import annotations

from pathlib import Path

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import AllocationState, Json, PoolState
from batchflow.emulator.state import images, quotas, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import compile_filter, filter_docs
from batchflow.emulator.state.nodes import Node
from batchflow.emulator.state.store import Page
from batchflow.emulator.state.write_only import without_protected_settings

FIELDS = {"id": "id", "state": "state"}


def create_pool(core: Core, body: Json) -> Json:
    body = without_protected_settings(body)
    quotas.vm_size(str(body.get("vmSize", "")))
    images.check_image(body)
    doc: Json = {**body}
    for key, default in (
        ("taskSlotsPerNode", 1),
        ("resizeTimeout", "PT15M"),
        ("enableAutoScale", False),
        ("enableInterNodeCommunication", False),
    ):
        doc.setdefault(key, default)
    scaler = core.autoscaling.on_create(doc)  # the first evaluation sets the targets
    doc.setdefault("targetDedicatedNodes", 0)
    doc.setdefault("targetLowPriorityNodes", 0)
    doc.update({"currentDedicatedNodes": 0, "currentLowPriorityNodes": 0})
    shapes.set_state(doc, PoolState.ACTIVE)
    shapes.set_state(doc, AllocationState.RESIZING, key="allocationState")
    shapes.stamp(doc, created=True)
    rows.insert_pool(core.store, doc)
    core.autoscaling.register(doc["id"], scaler)
    return core.agent.allocate(doc["id"])


def list_pools(core: Core, filter: str | None, token: str | None, limit: int) -> Page:
    where, params = compile_filter(filter, FIELDS)
    return rows.pools_page(core.store, where, params, token, limit)


def resize_pool(core: Core, pool_id: str, body: Json) -> None:
    def targets(doc: Json) -> None:
        for key in ("targetDedicatedNodes", "targetLowPriorityNodes", "resizeTimeout"):
            if key in body:
                doc[key] = body[key]
        shapes.set_state(doc, AllocationState.RESIZING, key="allocationState")

    if core.pool(pool_id).get("enableAutoScale"):
        raise errors.autoscale_enabled(pool_id)
    core.update_pool(pool_id, targets)
    core.agent.allocate(pool_id, str(body.get("nodeDeallocationOption") or "requeue"))


def update_pool(core: Core, pool_id: str, body: Json, replace: bool) -> Json:
    """PATCH merges what the body gives; updateproperties replaces startTask and metadata.

    A new startTask (or policy) applies to nodes that join later, as on Batch (existing nodes
    pick a start task up when they reboot, which local nodes never do)."""

    def change(doc: Json) -> None:
        if replace:
            doc.pop("startTask", None)
            doc["metadata"] = []
        doc.update(body)

    with core.lock:
        doc = core.update_pool(pool_id, change)
        for node in core.nodes.get(doc["id"].lower(), []):
            node.apply_policy(doc)
    core.wake()
    return doc


def delete_pool(core: Core, pool_id: str) -> None:
    """Requeue the pool's running tasks, drop its nodes, forget it, and clear its files."""
    with core.lock:
        pool = core.pool(pool_id)
        core.agent.remove_nodes(pool["id"])
        core.nodes.pop(pool["id"].lower(), None)
        rows.delete_pool(core.store, pool_id)
        core.discard(core.data_dir / "nodes" / pool["id"])


def lose_node(core: Core, pool_id: str, wanted: str | None) -> str:
    """Lose a node (its tasks are requeued) and put a fresh one in its place; its id.
    ``None``: a node that is running a task (the control surface's ``nodes/lose``)."""
    return core.agent.lose_node(pool_id, wanted)


def find_node(core: Core, pool_id: str, ident: str) -> Node:
    core.pool(pool_id)
    with core.lock:
        for node in core.nodes.get(pool_id.lower(), []):
            if node.id == ident:
                return node
    raise errors.node_not_found(ident)


def get_node(core: Core, pool_id: str, node_id: str) -> Json:
    """The REST ``BatchNode`` (PoolNotFound, NodeNotFound 404)."""
    node = find_node(core, pool_id, node_id)
    with core.lock:
        return node.doc(core.pool_url(node.pool_id))


def node_root(core: Core, pool_id: str, node_id: str) -> Path:
    """The node's root directory (startup/, shared/, workitems/ beneath it)."""
    return find_node(core, pool_id, node_id).root


def list_nodes(core: Core, pool_id: str, filter: str | None, token: str | None, limit: int) -> Page:
    pool = core.pool(pool_id)
    with core.lock:
        nodes = sorted(core.nodes.get(pool["id"].lower(), []), key=lambda n: n.index)
        docs = [n.doc(core.pool_url(pool["id"])) for n in nodes]
    return filter_docs(docs, filter, {"id": "id", "state": "state"}, int(token or 0), limit)
