"""Stage 2: create the pool or reuse a matching one, then wait for usable nodes."""

from __future__ import annotations

import time

from batchflow.engine.bodies import pool_body, start_task_body
from batchflow.engine.events import Event, EventSink
from batchflow.engine.polling import LOCAL_POLL, PollPolicy, retry_transient, wait_gone
from batchflow.engine.protocols import BatchService, Json, NodeInfo, PoolInfo
from batchflow.engine.resize import PoolAllocationFailed, no_node, smaller
from batchflow.errors import (
    BackendError,
    BatchflowError,
    Conflict,
    FailedTask,
    SpecMismatch,
    WorkflowFailed,
)
from batchflow.plan_model import Plan, PoolPlan
from batchflow.redact import redact

USABLE = frozenset({"idle", "running"})
# Nodes that will run no task without the user's help (a reboot, a new start task).
LOST = frozenset({"starttaskfailed", "unusable"})
SETTLING = frozenset(
    {"creating", "starting", "waitingforstarttask", "rebooting", "reimaging", "unknown"}
)
STDERR_TAIL_LINES = 20
TAIL_BYTES = 16 << 10  # a start task may print megabytes (apt-get); its end says why


def differences(want: PoolPlan, have: PoolInfo) -> list[str]:
    """What differs between the spec's pool and the existing one (empty: reusable)."""
    diffs = []
    if want.vm_size.lower() != have.vm_size.lower():
        diffs.append(f"vm_size is {have.vm_size} (spec: {want.vm_size})")
    img = want.image
    wanted = (img.publisher, img.offer, img.sku, img.version, img.node_agent_sku)
    if tuple(x.lower() for x in wanted) != tuple(x.lower() for x in have.image):
        diffs.append(f"image is {'/'.join(have.image)} (spec: {'/'.join(wanted)})")
    if want.slots_per_node != have.slots_per_node:
        diffs.append(f"slots_per_node is {have.slots_per_node} (spec: {want.slots_per_node})")
    wanted_start = start_task_body(want.start_task, "") if want.start_task else None
    if start_task_key(wanted_start) != start_task_key(have.start_task):
        diffs.append("start_task differs (command, elevation, wait_for_success or its files)")
    return diffs


def start_task_key(body: Json | None) -> tuple[object, ...] | None:
    """What identifies a start task: command, elevation, wait_for_success and where its
    resource files land (their URLs carry a SAS that changes on every run)."""
    if not body:
        return None
    user = (body.get("userIdentity") or {}).get("autoUser") or {}
    files = sorted(str(f.get("filePath") or "") for f in body.get("resourceFiles") or [])
    env = sorted((e.get("name"), e.get("value")) for e in body.get("environmentSettings") or [])
    return (
        str(body.get("commandLine") or ""),
        str(user.get("elevationLevel") or "nonadmin").lower(),
        bool(body.get("waitForSuccess", True)),
        tuple(files),
        tuple(env),
    )


def _mismatch(plan: Plan, diffs: list[str]) -> SpecMismatch:
    return SpecMismatch(
        f"pool {plan.pool.id} exists but does not match the spec: {'; '.join(diffs)}. "
        f"Delete it with `batchflow down {plan.spec_path.name}` or give pool.id a new id.",
        code="PoolMismatch",
    )


def ensure_pool(
    plan: Plan,
    batch: BatchService,
    input_url: str,
    sink: EventSink,
    poll: PollPolicy = LOCAL_POLL,
    timeout_s: float = 1800.0,
) -> bool:
    """Create the pool unless it exists; an existing one must match. True if created.
    A pool still being deleted (a cleanup or ``batchflow down`` moments ago) is waited for."""
    have = retry_transient(lambda: batch.get_pool(plan.pool.id))
    if have is not None and have.state == "deleting":
        sink(Event("pool", f"waiting for the old pool {plan.pool.id} to be deleted"))
        wait_gone(lambda: batch.get_pool(plan.pool.id), poll, timeout_s, f"pool {plan.pool.id}")
        have = None
    created = False
    if have is None:
        try:
            retry_transient(lambda: batch.create_pool(pool_body(plan.pool, input_url)))
            created = True
        except Conflict as exc:
            if exc.code != "PoolExists":  # a retried create whose first attempt went through
                raise
        have = retry_transient(lambda: batch.get_pool(plan.pool.id))
    if have is not None and (diffs := differences(plan.pool, have)):
        raise _mismatch(plan, diffs)
    if have is not None and not created:
        _ask_again(plan, batch, have, sink)
    sink(Event("pool", f"{'created' if created else 'reusing'} pool {plan.pool.id}"))
    return created


def _ask_again(plan: Plan, batch: BatchService, have: PoolInfo, sink: EventSink) -> None:
    """A reused pool whose last resize gave up on some nodes (a quota since raised, a failed
    allocation) asks for them again: its errors stay until a new resize, so the run would
    otherwise stop on the same errors however the account changed."""
    if plan.pool.autoscale_formula or have.allocation_state != "steady":
        return
    short = have.current_dedicated + have.current_spot < have.target_dedicated + have.target_spot
    if have.resize_errors and short:
        sink(Event("pool", f"pool {have.id} did not get all its nodes last time; asking again"))
        retry_transient(lambda: batch.resize_pool(have.id, have.target_dedicated, have.target_spot))


def _start_task_failure(batch: BatchService, pool_id: str, node: NodeInfo) -> WorkflowFailed:
    try:
        raw = batch.read_node_file(pool_id, node.id, "startup/stderr.txt", tail=TAIL_BYTES)
        lines = raw.decode("utf-8", "replace").splitlines()
        if len(raw) == TAIL_BYTES and len(lines) > 1:
            lines = lines[1:]  # the first line was cut by the range
        tail = "\n".join(lines[-STDERR_TAIL_LINES:])
    except BackendError as exc:
        tail = f"(could not read startup/stderr.txt: {exc})"
    tail = redact(tail)
    failed = FailedTask(
        task_id="start task",
        exit_code=None,
        category="usererror",
        message=f"start task failed on node {node.id}",
        stderr_tail=tail,
    )
    return WorkflowFailed(
        "pool",
        f"the start task failed on node {node.id} of pool {pool_id}; its stderr:\n{tail}",
        [failed],
    )


def _resized_with_errors(plan: Plan, batch: BatchService) -> PoolInfo | None:
    pool = retry_transient(lambda: batch.get_pool(plan.pool.id))
    if pool is None or pool.allocation_state != "steady" or not pool.resize_errors:
        return None
    return pool


def _stop_if_none_can_come(plan: Plan, batch: BatchService) -> None:
    """A pool with no node whose resize ended with errors will get none by waiting."""
    pool = _resized_with_errors(plan, batch)
    if pool is not None:
        raise no_node(pool)


def _say_if_smaller(plan: Plan, batch: BatchService, sink: EventSink) -> None:
    pool = _resized_with_errors(plan, batch)
    if pool is not None:
        sink(Event("pool", smaller(pool)))


def wait_for_nodes(
    plan: Plan, batch: BatchService, sink: EventSink, poll: PollPolicy, timeout_s: float
) -> list[NodeInfo]:
    """Until some node is usable and none is still starting. Nodes whose start task failed or
    that are unusable do not stop the run while others are usable (it goes on, saying the pool
    is smaller); when none is usable and none is still starting, the run ends at once: with
    the start task's stderr, or the service's reason. A resize that ended with errors (a core
    quota, a failed allocation) and no node ends it at once too. An autoscale pool may rightly
    have no node before tasks exist (its formula sizes it on pending tasks)."""
    deadline = time.monotonic() + timeout_s
    interval, last = poll.initial, ""
    while True:
        nodes = retry_transient(lambda: batch.list_nodes(plan.pool.id))
        usable = [n for n in nodes if n.state in USABLE]
        settling = [n for n in nodes if n.state in SETTLING]
        lost = [n for n in nodes if n.state in LOST]
        summary = f"{len(usable)} of {len(nodes)} nodes usable"
        sink(Event("pool", summary, len(usable), max(len(nodes), 1)))
        if lost and not usable and not settling:
            raise none_usable(plan, batch, lost)
        if (usable and not settling) or (plan.pool.autoscale_formula and not nodes):
            _say_if_smaller(plan, batch, sink)
            if lost:
                sink(Event("pool", _fewer(plan.pool.id, usable, lost)))
            return usable
        if not nodes and not plan.pool.autoscale_formula:
            _stop_if_none_can_come(plan, batch)
        if time.monotonic() > deadline:
            raise WorkflowFailed(
                "pool", f"no usable node in pool {plan.pool.id} after {timeout_s:.0f}s ({summary})"
            )
        interval = poll.next(interval, summary != last)
        last = summary
        time.sleep(interval)


def none_usable(plan: Plan, batch: BatchService, lost: list[NodeInfo]) -> BatchflowError:
    """No node can run a task and none is coming: the first failed start task's stderr (the
    user's command: exit 1), or the service's unusable nodes (exit 3)."""
    failed = [n for n in lost if n.state == "starttaskfailed"]
    if failed:
        return _start_task_failure(batch, plan.pool.id, failed[0])
    return PoolAllocationFailed(
        f"pool {plan.pool.id} has no usable node: all {len(lost)} are unusable (the service "
        "could not use them). To go on, delete the pool with "
        f"`batchflow down {plan.spec_path.name}` and run again, or choose another vm_size",
        code="NodesUnusable",
    )


def _fewer(pool_id: str, usable: list[NodeInfo], lost: list[NodeInfo]) -> str:
    """The pool came with fewer usable nodes than it has: the run goes on, and says why."""
    failed = [n.id for n in lost if n.state == "starttaskfailed"]
    unusable = [n.id for n in lost if n.state == "unusable"]
    why = []
    if failed:
        why.append(f"the start task failed on {len(failed)} (startup/stderr.txt on {failed[0]})")
    if unusable:
        why.append(f"{len(unusable)} unusable")
    return (
        f"pool {pool_id} is smaller than asked ({len(usable)} of {len(usable) + len(lost)} "
        f"nodes usable: {'; '.join(why)}); the run goes on with {len(usable)}"
    )
