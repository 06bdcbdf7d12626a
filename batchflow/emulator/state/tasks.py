"""Tasks: add (one or a collection), get, list, update, terminate, delete, reactivate, requeue.

A new task takes Batch's defaults: ``requiredSlots`` 1, the job's ``maxTaskRetryCount``,
unlimited ``maxWallClockTime``, a 7-day ``retentionTime``. A task with ``dependsOn`` is held
(``ready = 0``) until its dependencies are met; only ready, active tasks are ever dispatched.
"""

from __future__ import annotations

from pathlib import Path

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import Json, KillReason, TaskResult, TaskState
from batchflow.emulator.state import jobs, outcomes, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import compile_filter
from batchflow.emulator.state.store import Page

FIELDS = {
    "id": "id",
    "state": "state",
    "executionInfo/result": "result",
    # No column of its own: read from the documents of the rows the job and state select.
    "stateTransitionTime": "json_extract(doc, '$.stateTransitionTime')",
}
TIMES = frozenset({"stateTransitionTime"})
UNLIMITED = "P10675199DT2H48M5.4775807S"


def _new_doc(job: Json, body: Json) -> Json:
    if body.get("dependsOn") and not job.get("usesTaskDependencies"):
        raise errors.task_dependencies_not_enabled(job["id"])
    doc: Json = dict(body)
    constraints = dict(body.get("constraints") or {})
    default_retries = (job.get("constraints") or {}).get("maxTaskRetryCount", 0)
    constraints.setdefault("maxTaskRetryCount", default_retries)
    constraints.setdefault("maxWallClockTime", UNLIMITED)
    constraints.setdefault("retentionTime", "P7D")
    doc["constraints"] = constraints
    doc.setdefault("requiredSlots", 1)
    shapes.set_state(doc, TaskState.ACTIVE)
    shapes.stamp(doc, created=True)
    doc["executionInfo"] = {"retryCount": 0, "requeueCount": 0}
    return doc


def _insert(core: Core, job_id: str, doc: Json) -> None:
    rows.insert_task(
        core.store,
        job_id,
        doc,
        lambda: outcomes.dependencies_met(core, job_id, doc.get("dependsOn")),
    )


def create_task(core: Core, job_id: str, body: Json) -> Json:
    job = core.job(job_id)
    jobs.check_active(job)
    doc = _new_doc(job, body)
    _insert(core, job["id"], doc)
    core.touch(job["id"])
    return doc


def create_tasks(core: Core, job_id: str, bodies: list[Json]) -> list[Json]:
    """addtaskcollection: every task gets its own result, in order, in one transaction."""
    job = core.job(job_id)
    jobs.check_active(job)
    results: list[Json] = []
    with core.store.tx():
        for body in bodies:
            try:
                doc = _new_doc(job, body)
                _insert(core, job["id"], doc)
            except errors.BatchServiceError as exc:
                results.append(
                    {"status": "clienterror", "taskId": body.get("id"), "error": exc.inner()}
                )
                continue
            results.append(
                {
                    "status": "success",
                    "taskId": doc["id"],
                    "eTag": doc["eTag"],
                    "lastModified": doc["lastModified"],
                }
            )
    core.touch(job["id"])
    return results


def list_tasks(core: Core, job_id: str, filter: str | None, token: str | None, limit: int) -> Page:
    job = core.job(job_id)
    where, params = compile_filter(filter, FIELDS, TIMES)
    return rows.tasks_page(core.store, job["id"], where, params, token, limit)


def update_task(core: Core, job_id: str, task_id: str, body: Json) -> None:
    job = core.job(job_id)

    def change(doc: Json) -> None:
        constraints = dict(body.get("constraints") or {})
        constraints.setdefault(
            "maxTaskRetryCount", (job.get("constraints") or {}).get("maxTaskRetryCount", 0)
        )
        constraints.setdefault("maxWallClockTime", UNLIMITED)
        constraints.setdefault("retentionTime", "P7D")
        doc["constraints"] = constraints

    core.task(job_id, task_id)
    core.update_task(job_id, task_id, change)


def terminate_task(core: Core, job_id: str, task_id: str) -> None:
    """Running: kill (the attempt then completes with TaskEnded). Active: complete now."""
    with core.lock:
        doc = core.task(job_id, task_id)
        if doc["state"] == TaskState.COMPLETED:
            return
        run = core.running.get((job_id.lower(), task_id.lower()))
        if run is not None:
            run.kill(KillReason.TERMINATE)
            return
        done = outcomes.complete_task(core, job_id, doc["id"], None, shapes.user_terminated())
    outcomes.after_task(core, job_id, done)


def delete_task(core: Core, job_id: str, task_id: str) -> None:
    """Kill the task if it runs, forget it, and remove its directory from its node."""
    tdir = task_dir(core, job_id, task_id)
    with core.lock:
        doc = core.task(job_id, task_id)
        run = core.running.get((job_id.lower(), task_id.lower()))
        if run is not None:
            run.kill(KillReason.DELETE)
        rows.delete_task(core.store, job_id, doc["id"])
        if tdir is not None:
            # Moved aside now, under the lock: a task added again under the same id (how
            # batchflow re-runs a changed task) starts in a fresh directory, and the dying
            # attempt keeps writing into the moved one until its kill lands.
            core.discard(tdir)
    jobs.check_all_complete(core, job_id)


def reactivate_task(core: Core, job_id: str, task_id: str) -> None:
    """A failed task becomes active again with a fresh retry budget."""
    job = core.job(job_id)
    jobs.check_active(job)
    doc = core.task(job_id, task_id)
    info = doc.get("executionInfo") or {}
    if doc["state"] != TaskState.COMPLETED or info.get("result") != TaskResult.FAILURE:
        raise errors.invalid_operation("Only a completed task that failed can be reactivated.")

    def again(d: Json) -> None:
        shapes.set_state(d, TaskState.ACTIVE)
        d["executionInfo"] = {"retryCount": 0, "requeueCount": info.get("requeueCount", 0)}
        d.pop("nodeInfo", None)

    ready = int(outcomes.dependencies_met(core, job["id"], doc.get("dependsOn")))
    core.update_task(
        job_id,
        task_id,
        again,
        state="active",
        result=None,
        dep_ok=None,
        ready=ready,
        node_id=None,
        expires=None,
    )
    core.touch(job_id)  # back in the queue


def requeue(core: Core, job_id: str, task_id: str) -> None:
    """Back to active after its node was lost (requeueCount + 1), as Batch does."""

    def back(doc: Json) -> None:
        shapes.set_state(doc, TaskState.ACTIVE)
        info = doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        info["requeueCount"] = int(info.get("requeueCount", 0)) + 1
        info["lastRequeueTime"] = shapes.now()
        info.pop("startTime", None)

    core.update_task(job_id, task_id, back, state="active", node_id=None, pid=None, pstart=None)
    core.touch(job_id)  # back in the queue


def task_dir(core: Core, job_id: str, task_id: str) -> Path | None:
    """The task's directory on the node it last ran on, if it still exists."""
    doc = core.task(job_id, task_id)
    node = doc.get("nodeInfo")
    if not node:
        return None
    job = core.job(job_id)
    path = (
        core.data_dir
        / "nodes"
        / node["poolId"]
        / node["nodeId"]
        / "workitems"
        / job["id"]
        / "job-1"
        / doc["id"]
    )
    return path if path.is_dir() else None
