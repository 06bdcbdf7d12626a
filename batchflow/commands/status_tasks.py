"""``batchflow status SPEC --tasks [--state S]``: one line per task, from the job while it
exists, else from the last run's record."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from batchflow.commands._common import out, out_json
from batchflow.engine.protocols import TaskInfo
from batchflow.engine.records import TaskRecord, iso, list_runs
from batchflow.plan_model import Plan


def _from_info(t: TaskInfo) -> TaskRecord:
    return TaskRecord(
        id=t.id,
        step=None,
        state=t.state,
        result=t.result,
        exit_code=t.exit_code,
        retries=t.retry_count,
        requeues=t.requeue_count,
        node=t.node_id,
        start=iso(t.start_time),
        end=iso(t.end_time),
        category=t.failure_category,
        message=t.failure_message,
    )


def state_of(t: TaskRecord) -> str:
    """active, running, succeeded or failed (completed tasks by their result)."""
    if t.state == "completed":
        return "succeeded" if t.result == "success" else "failed"
    return t.state


def _matches(t: TaskRecord, state: str | None) -> bool:
    return state is None or state_of(t) == state or (state == "completed" == t.state)


def _seconds(t: TaskRecord) -> float | None:
    if t.seconds is not None:
        return t.seconds
    if t.state == "running" and t.start:  # still running: how long so far
        now = _dt.datetime.now(_dt.timezone.utc)
        return (now - _dt.datetime.fromisoformat(t.start)).total_seconds()
    return None


def _row(t: TaskRecord) -> dict[str, Any]:
    secs = _seconds(t)
    return {
        "id": t.id,
        "state": state_of(t),
        "node": t.node,
        "seconds": round(secs, 3) if secs is not None else None,
        "attempts": 1 + t.retries + t.requeues if t.start else 0,
        "retries": t.retries,
        "requeues": t.requeues,
        "exit_code": t.exit_code,
    }


def show_tasks(
    plan: Plan, live: Sequence[TaskInfo] | None, state: str | None, as_json: bool
) -> int:
    """Print the tasks, live or recorded, filtered by ``state``."""
    if live is not None:
        tasks, source = [_from_info(t) for t in live], "job"
    else:
        runs = list_runs(plan.spec_path)
        tasks = list(runs[0].tasks.values()) if runs else []
        source = f"run {runs[0].run_id}" if runs else "nothing"
    rows = [_row(t) for t in tasks if _matches(t, state)]
    if as_json:
        out_json({"source": source, "tasks": rows})
        return 0
    out(f"{len(rows)} task{'s' if len(rows) != 1 else ''} (from the {source})")
    for r in rows:
        secs = f"{r['seconds']:.1f}s" if r["seconds"] is not None else "-"
        out(f"{r['id']:<24} {r['state']:<10} {r['node'] or '-':<24} {secs:>8}  {r['attempts']}")
    return 0
