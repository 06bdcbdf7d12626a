"""Pools and their local nodes: create, resize, update, delete, node loss, start tasks.

A pool of N = targetDedicatedNodes + targetLowPriorityNodes target nodes runs
min(N, nodes_max, os.cpu_count()) local nodes, dedicated ones first; currentDedicatedNodes and
currentLowPriorityNodes report that real split, so a pool asking for more nodes than the machine
has shows fewer current nodes than targets. Allocation takes milliseconds but passes through
the node states Batch shows (creating -> starting -> waitingforstarttask -> idle, or
starttaskfailed).
"""

from __future__ import annotations

import logging
import os

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import Json
from batchflow.emulator.node.allocation import add_node, apply_policy, remove_node
from batchflow.emulator.node.executor import kill_orphan
from batchflow.emulator.state import rows
from batchflow.emulator.state.contract import Page
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import compile_filter, filter_docs
from batchflow.emulator.state.nodes import Node
from batchflow.emulator.state.store import UnreadableDocument

log = logging.getLogger("batchflow.emulator")

FIELDS = {"id": "id", "state": "state"}


def create_pool(core: Core, body: Json) -> Json:
    doc: Json = {**body}
    for key, default in (
        ("taskSlotsPerNode", 1),
        ("targetDedicatedNodes", 0),
        ("targetLowPriorityNodes", 0),
        ("resizeTimeout", "PT15M"),
        ("enableAutoScale", False),
        ("enableInterNodeCommunication", False),
    ):
        doc.setdefault(key, default)
    doc.update({"currentDedicatedNodes": 0, "currentLowPriorityNodes": 0})
    shapes.set_state(doc, "active")
    shapes.set_state(doc, "resizing", key="allocationState")
    shapes.stamp(doc, created=True)
    rows.insert_pool(core.store, doc)
    return allocate(core, doc["id"])


def list_pools(core: Core, filter: str | None, token: str | None, limit: int) -> Page:
    where, params = compile_filter(filter, FIELDS)
    docs, last = core.store.page("pools", where, params, int(token or 0), limit)
    return Page(docs, str(last) if last is not None else None)


def local_split(core: Core, dedicated: int, low: int) -> tuple[int, int]:
    """How many dedicated and spot nodes run locally for these targets."""
    total = min(dedicated + low, core.nodes_max, os.cpu_count() or 1)
    local_dedicated = min(dedicated, total)
    return local_dedicated, total - local_dedicated


def allocate(core: Core, pool_id: str, deallocation: str = "requeue") -> Json:
    """Bring the pool's local nodes to its targets, then mark its allocation steady."""
    with core.lock:
        pool = core.pool(pool_id)
        want_d, want_l = local_split(
            core,
            int(pool.get("targetDedicatedNodes") or 0),
            int(pool.get("targetLowPriorityNodes") or 0),
        )
        nodes = core.nodes.setdefault(pool["id"].lower(), [])
        for dedicated, want in ((True, want_d), (False, want_l)):
            mine = [n for n in nodes if n.dedicated == dedicated and not n.leaving]
            for _ in range(want - len(mine)):
                add_node(core, pool, dedicated)
            # Shrink: idle nodes first, newest first, as Batch prefers.
            extra = sorted(mine, key=lambda n: (n.running_tasks > 0, -n.index))
            for node in extra[: max(0, len(mine) - want)]:
                remove_node(core, node, deallocation)

        def steady(doc: Json) -> None:
            shapes.set_state(doc, "steady", key="allocationState")
            doc["currentDedicatedNodes"] = want_d
            doc["currentLowPriorityNodes"] = want_l

        return core.update_pool(pool_id, steady)


def resize_pool(core: Core, pool_id: str, body: Json) -> None:
    def targets(doc: Json) -> None:
        for key in ("targetDedicatedNodes", "targetLowPriorityNodes", "resizeTimeout"):
            if key in body:
                doc[key] = body[key]
        shapes.set_state(doc, "resizing", key="allocationState")

    core.update_pool(pool_id, targets)
    allocate(core, pool_id, str(body.get("nodeDeallocationOption") or "requeue"))


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
            apply_policy(node, doc)
    core.wake()
    return doc


def delete_pool(core: Core, pool_id: str) -> None:
    """Requeue the pool's running tasks, drop its nodes, forget it, and clear its files."""
    with core.lock:
        pool = core.pool(pool_id)
        for node in list(core.nodes.get(pool["id"].lower(), [])):
            remove_node(core, node, "requeue")
        core.nodes.pop(pool["id"].lower(), None)
        rows.delete_pool(core.store, pool_id)
        core.discard(core.data_dir / "nodes" / pool["id"])


def restore(core: Core) -> None:
    """After a restart: re-create every pool's local nodes (same ids) and boot them."""
    for pool_id, pool, text in rows.stored_pools(core.store):
        if isinstance(pool, UnreadableDocument):
            # One bad row must not keep the emulator from starting for ever.
            kept = core.store.quarantine_pool(pool_id, text)
            log.error(
                "pool %r skipped at start-up (%s); its document was moved to %s",
                pool_id,
                pool,
                kept,
            )
            continue
        stored = rows.stored_nodes(core.store, pool["id"])
        with core.lock:
            for spec in stored:
                if spec.pid:
                    kill_orphan(spec.pid, spec.ticks)
                add_node(core, pool, spec.dedicated, spec.index, spec.generation)
        allocate(core, pool["id"])


def lose_node(core: Core, pool_id: str, wanted: str | None) -> str:
    """Lose a node (its tasks are requeued) and put a fresh one in its place."""
    with core.lock:
        pool = core.pool(pool_id)
        nodes = core.nodes.get(pool["id"].lower(), [])
        node: Node | None
        if wanted is None:
            busy = [n for n in nodes if n.running_tasks]
            node = (busy or nodes)[0] if nodes else None
        else:
            node = next((n for n in nodes if n.id == wanted), None)
        if node is None:
            raise errors.node_not_found(wanted or "")
        remove_node(core, node, "requeue")
        add_node(core, pool, node.dedicated, node.index, node.generation + 1)
        return node.id


def find_node(core: Core, pool_id: str, ident: str) -> Node:
    core.pool(pool_id)
    with core.lock:
        for node in core.nodes.get(pool_id.lower(), []):
            if node.id == ident:
                return node
    raise errors.node_not_found(ident)


def list_nodes(core: Core, pool_id: str, filter: str | None, token: str | None, limit: int) -> Page:
    pool = core.pool(pool_id)
    with core.lock:
        nodes = sorted(core.nodes.get(pool["id"].lower(), []), key=lambda n: n.index)
        docs = [n.doc(core.pool_url(pool["id"])) for n in nodes]
    return filter_docs(docs, filter, {"id": "id", "state": "state"}, int(token or 0), limit)
