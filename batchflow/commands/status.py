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


STATES = ("active", "running", "completed", "succeeded", "failed")


def _last_run(plan: Plan) -> dict[str, Any] | None:
    """The newest recorded run of the spec, in a few fields."""
    from batchflow.engine.records import list_runs

    found = list_runs(plan.spec_path)
    if not found:
        return None
    rec = found[0]
    return {
        "run": rec.run_id,
        "outcome": rec.outcome,
        "started": rec.started,
        "ended": rec.ended,
        "succeeded": sum(1 for t in rec.tasks.values() if t.result == "success"),
        "failed": sum(1 for t in rec.tasks.values() if t.result == "failure"),
        "total": rec.total,
        "up_to_date": rec.up_to_date,
        "cleaned_up": list(rec.cleaned),
    }


def _last_run_line(last: dict[str, Any]) -> str:
    from batchflow.commands.runs import when

    if last["outcome"] == "running":
        return f"last run {last['run']}: no end recorded (still running, or killed)"
    at = when(last["ended"])[11:16]
    gone = [c.split(" ", 1)[0] for c in last["cleaned_up"] if c.startswith(("job ", "pool "))]
    deleted = f", {' and '.join(gone)} deleted by cleanup" if gone else ""
    failed = f", {last['failed']} failed" if last["failed"] else ""
    cached = f", {last['up_to_date']} up to date" if last["up_to_date"] else ""
    return (
        f"last run {last['run']}: {last['outcome']} {last['succeeded']} of {last['total']}"
        f"{failed}{cached} at {at}{deleted}"
    )


def _live_tasks(plan: Plan, batch: BatchService) -> list[Any]:
    from batchflow.engine.polling import retry_transient

    return retry_transient(lambda: batch.list_tasks(plan.job.id))


def _text(plan: Plan, r: dict[str, Any]) -> str:
    lines = []
    if r.get("last_run"):
        lines.append(_last_run_line(r["last_run"]))
    pool, job, tasks = r["pool"], r["job"], r["tasks"]
    cleaned = set((r.get("last_run") or {}).get("cleaned_up", ()))
    gone = "deleted by cleanup after the last run"
    if pool is None:
        lines.append(
            f"pool {plan.pool.id}: {gone if f'pool {plan.pool.id}' in cleaned else 'not created'}"
        )
    else:
        nodes = ", ".join(f"{n} {s}" for s, n in pool["nodes"].items()) or "no nodes"
        lines.append(f"pool {pool['id']}: {pool['state']}/{pool['allocation_state']}, {nodes}")
    if job is None:
        lines.append(
            f"job {plan.job.id}: {gone if f'job {plan.job.id}' in cleaned else 'not created'}"
        )
    else:
        lines.append(f"job {job['id']}: {job['state']}")
        n = tasks["total_in_spec"]
        dynamic = [s.name for s in plan.steps if s.dynamic]
        # their tasks are made of what others produce: only a run knows how many
        more = f", and those of the dynamic steps {', '.join(dynamic)}" if dynamic else ""
        lines.append(
            f"tasks: {tasks['succeeded']} succeeded, {tasks['failed']} failed, "
            f"{tasks['running']} running, {tasks['active']} waiting "
            f"(spec has {n} task{'s' if n != 1 else ''}{more})"
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
    tasks: bool = False,
    state: str | None = None,
) -> int:
    """Print the status of what the spec created (and its last recorded run); with
    ``tasks``, one line per task instead."""
    from batchflow.commands._target import nothing_local, open_target

    plan = load_names(spec, overrides)
    if nothing_local(plan.spec_path, target):
        report: dict[str, Any] = {"pool": None, "job": None, "tasks": None, "failed_tasks": []}
        kind, listed = "local", None
    else:
        with open_target(plan.spec_path, target, storage, read_only=True, attach=True) as tgt:
            report = gather(plan, tgt.batch)
            listed = _live_tasks(plan, tgt.batch) if tasks and report["job"] else None
        kind = tgt.kind
    report["last_run"] = _last_run(plan)
    if tasks:
        from batchflow.commands.status_tasks import show_tasks

        return show_tasks(plan, listed, state, as_json)
    if as_json:
        out_json({"target": kind, **report})
    else:
        out(_text(plan, report))
    return 0
