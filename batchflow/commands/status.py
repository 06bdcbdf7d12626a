"""``batchflow status SPEC``: the pool, the job, its task counts and failed tasks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from batchflow.commands._common import load_names, out, out_json
from batchflow.engine.protocols import BatchService
from batchflow.plan_model import Plan


def gather(plan: Plan, batch: BatchService) -> dict[str, Any]:
    """The status as JSON-able data."""
    from batchflow.engine.collect import failed_tasks

    pool = batch.get_pool(plan.pool.id)
    report: dict[str, Any] = {"pool": None, "job": None, "tasks": None, "failed_tasks": []}
    if pool is not None:
        nodes = Counter(n.state for n in batch.list_nodes(pool.id))
        report["pool"] = {
            "id": pool.id,
            "state": pool.state,
            "allocation_state": pool.allocation_state,
            "vm_size": pool.vm_size,
            "nodes": dict(sorted(nodes.items())),
        }
    job = batch.get_job(plan.job.id)
    if job is not None:
        report["job"] = {"id": job.id, "state": job.state, "pool": job.pool_id}
        c = batch.task_counts(job.id)
        report["tasks"] = {
            "total_in_spec": len(plan.tasks),
            "active": c.active,
            "running": c.running,
            "completed": c.completed,
            "succeeded": c.succeeded,
            "failed": c.failed,
        }
        report["failed_tasks"] = [
            {
                "id": f.task_id,
                "exit_code": f.exit_code,
                "category": f.category,
                "message": f.message,
                "stderr_tail": f.stderr_tail,
            }
            for f in failed_tasks(plan, batch)
        ]
    return report


def _text(plan: Plan, r: dict[str, Any]) -> str:
    lines = []
    pool, job, tasks = r["pool"], r["job"], r["tasks"]
    if pool is None:
        lines.append(f"pool {plan.pool.id}: not created")
    else:
        nodes = ", ".join(f"{n} {s}" for s, n in pool["nodes"].items()) or "no nodes"
        lines.append(f"pool {pool['id']}: {pool['state']}/{pool['allocation_state']}, {nodes}")
    if job is None:
        lines.append(f"job {plan.job.id}: not created")
    else:
        lines.append(f"job {job['id']}: {job['state']}")
        lines.append(
            f"tasks: {tasks['succeeded']} succeeded, {tasks['failed']} failed, "
            f"{tasks['running']} running, {tasks['active']} waiting "
            f"(spec has {tasks['total_in_spec']})"
        )
    for f in r["failed_tasks"]:
        code = "no exit code" if f["exit_code"] is None else f"exit code {f['exit_code']}"
        lines.append(f"FAILED {f['id']}: {code}, {f['category']}: {f['message']}")
        lines.extend(f"    {line}" for line in f["stderr_tail"].splitlines())
    return "\n".join(lines)


def status_cmd(
    spec: str,
    overrides: Sequence[str],
    as_json: bool,
    target: str | None = None,
    storage: str | None = None,
) -> int:
    """Print the status of what the spec created."""
    from batchflow.commands._target import nothing_local, open_target

    plan = load_names(spec, overrides)
    if nothing_local(plan.spec_path, target):
        report: dict[str, Any] = {"pool": None, "job": None, "tasks": None, "failed_tasks": []}
        kind = "local"
    else:
        with open_target(plan.spec_path, target, storage, read_only=True, attach=True) as tgt:
            report = gather(plan, tgt.batch)
        kind = tgt.kind
    if as_json:
        out_json({"target": kind, **report})
    else:
        out(_text(plan, report))
    return 0
