"""The local nodes of the pools: brought to a pool's targets (``allocate``), re-created after
a restart (``restore``), one lost and replaced (``lose_node``). ``LocalNodes`` is what the state
asks of them (``state.core.NodeAgent``).
"""

from __future__ import annotations

import logging
import os

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import AllocationState, Json, NodeAction
from batchflow.emulator.node import maintenance, processes
from batchflow.emulator.node.allocation import add_node, remove_node
from batchflow.emulator.node.executor import kill_orphan
from batchflow.emulator.state import quotas, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.nodes import Node
from batchflow.emulator.state.store import UnreadableDocument

log = logging.getLogger("batchflow.emulator")


class LocalNodes:
    """The node side of one account, as the state reaches it (``Core.agent``)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def allocate(self, pool_id: str, deallocation: str = "requeue") -> Json:
        return allocate(self._core, pool_id, deallocation)

    def remove_nodes(self, pool_id: str) -> None:
        """Take every node out of the pool, its running tasks requeued (lock held)."""
        for node in list(self._core.nodes.get(pool_id.lower(), [])):
            remove_node(self._core, node, "requeue")

    def lose_node(self, pool_id: str, wanted: str | None) -> str:
        return lose_node(self._core, pool_id, wanted)

    def run_job_task(self, node: Node, job: Json, kind: str) -> bool:
        return processes.run_job_task(self._core, node, job, kind)

    def remove_node(self, node: Node, deallocation: str) -> None:
        remove_node(self._core, node, deallocation)

    def take_down(self, node: Node, action: NodeAction, option: str) -> None:
        maintenance.take_down(self._core, node, action, option)

    def start_node(self, node: Node) -> None:
        maintenance.start(self._core, node)


def local_split(core: Core, dedicated: int, low: int) -> tuple[int, int]:
    """How many dedicated and spot nodes run locally for these targets."""
    total = min(dedicated + low, core.nodes_max, os.cpu_count() or 1)
    local_dedicated = min(dedicated, total)
    return local_dedicated, total - local_dedicated


def allocate(core: Core, pool_id: str, deallocation: str = "requeue") -> Json:
    """Bring the pool's local nodes to its targets, then mark its allocation steady."""
    with core.lock:
        pool = core.pool(pool_id)
        nodes = core.nodes.setdefault(pool["id"].lower(), [])
        granted = _grant(core, pool, nodes)
        want_d, want_l = local_split(core, granted.dedicated, granted.low_priority)
        for dedicated, want in ((True, want_d), (False, want_l)):
            mine = [n for n in nodes if n.dedicated == dedicated and not n.leaving]
            for _ in range(want - len(mine)):
                add_node(core, pool, dedicated)
            # Shrink: idle nodes first, newest first, as Batch prefers.
            extra = sorted(mine, key=lambda n: (n.running_tasks > 0, -n.index))
            for node in extra[: max(0, len(mine) - want)]:
                remove_node(core, node, deallocation)

        def steady(doc: Json) -> None:
            shapes.set_state(doc, AllocationState.STEADY, key="allocationState")
            doc["currentDedicatedNodes"] = want_d
            doc["currentLowPriorityNodes"] = want_l
            doc.pop("resizeErrors", None)
            if granted.errors:
                doc["resizeErrors"] = list(granted.errors)

        return core.update_pool(pool_id, steady)


def _grant(core: Core, pool: Json, nodes: list[Node]) -> quotas.Grant:
    """The pool's targets as the account's quotas (and an injected failure) allow them."""
    key = pool["id"].lower()
    others = [
        (n.vm_size, n.dedicated)
        for pid, pool_nodes in core.nodes.items()
        if pid != key
        for n in pool_nodes
        if not n.leaving
    ]
    live = [n for n in nodes if not n.leaving]
    return quotas.grant(
        core.quotas,
        quotas.Usage.of(others),
        str(pool.get("vmSize") or ""),
        int(pool.get("targetDedicatedNodes") or 0),
        int(pool.get("targetLowPriorityNodes") or 0),
        core.allocation_failure,
        held=(sum(n.dedicated for n in live), sum(not n.dedicated for n in live)),
    )


def restore(core: Core) -> None:
    """After a restart: re-create every pool's local nodes (same ids) and boot them."""
    for pool_id, pool, text in rows.stored_pools(core.store):
        if isinstance(pool, UnreadableDocument):
            # One bad row must not keep the emulator from starting for ever.
            kept = rows.quarantine_pool(core.store, pool_id, text)
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
