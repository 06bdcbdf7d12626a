"""Jobs: create, update, terminate, delete, task counts, and the job-level reactions to a task
completing (dependencies, ``onTaskFailure``, ``onAllTasksComplete``).

Termination and deletion are asynchronous, as on Batch: the job shows ``terminating`` or
``deleting`` while its running tasks are killed and job release tasks run, then it completes
(``executionInfo.terminateReason``: UserTerminate, AllTasksComplete, TaskFailed,
MaxWallClockTimeExpiry) or disappears.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from batchflow.emulator import errors, shapes, trees
from batchflow.emulator.kinds import JobState, Json, KillReason, TaskResult, TaskState
from batchflow.emulator.state import autopools, job_quota, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import compile_filter
from batchflow.emulator.state.store import Page, StoreClosed
from batchflow.emulator.state.write_only import without_protected_settings

FIELDS = {"id": "id", "state": "state"}
_UPDATABLE = (
    "priority",
    "maxParallelTasks",
    "allowTaskPreemption",
    "constraints",
    "poolInfo",
    "onAllTasksComplete",
    "metadata",
    "networkConfiguration",
)
log = logging.getLogger("batchflow.emulator")
# The states a termination starts from: a disabled job can be terminated too.
_TERMINABLE = (JobState.ACTIVE, JobState.DISABLING, JobState.DISABLED, JobState.ENABLING)


def create_job(core: Core, body: Json, auto_pool_id: str | None = None) -> Json:
    """A new active job; ``auto_pool_id``: the pool its schedule made for its jobs."""
    body = without_protected_settings(body)
    if rows.schedule_doc(core.store, body["id"]) is not None:
        raise errors.job_schedule_with_same_id_exists(body["id"])
    doc: Json = {**body, "usesTaskDependencies": bool(body.get("usesTaskDependencies"))}
    doc.setdefault("priority", 0)
    doc.setdefault("onAllTasksComplete", "noaction")
    doc.setdefault("onTaskFailure", "noaction")
    doc.setdefault("constraints", {"maxTaskRetryCount": 0})
    shapes.set_state(doc, JobState.ACTIVE)
    shapes.stamp(doc, created=True)
    job_quota.check(core)  # before its auto pool is made
    if auto_pool_id is None:
        pool_id, made = autopools.pool_for_new_job(core, doc)
    else:
        pool_id, made = auto_pool_id, False
    doc["executionInfo"] = {"startTime": doc["creationTime"], "poolId": pool_id}
    try:
        with job_quota.room(core):
            rows.insert_job(core.store, doc, pool_id)
    except errors.BatchServiceError:
        if made:  # the job was refused (JobExists, the quota): its auto pool goes with it
            autopools.job_ended(core, doc)
        raise
    with core.lock:
        core.job_cache.pop(doc["id"].lower(), None)
    arm_wall_clock(core, doc)
    check_all_complete(core, doc["id"])
    core.wake()
    return doc


def list_jobs(core: Core, filter: str | None, token: str | None, limit: int) -> Page:
    where, params = compile_filter(filter, FIELDS)
    return rows.jobs_page(core.store, where, params, token, limit)


# What a replace (PUT) clears: the fields it does not give go back to their defaults.
_REPLACED = (
    "priority",
    "constraints",
    "metadata",
    "onAllTasksComplete",
    "maxParallelTasks",
    "allowTaskPreemption",
)


def update_job(core: Core, job_id: str, body: Json, replace: bool) -> Json:
    """PATCH (``replace=False``) or PUT a job's updatable fields; 409 unless it is active."""
    body = without_protected_settings(body)
    job = core.job(job_id)
    check_active(job)
    if "poolInfo" in body:
        autopools.check_pool_info(body["poolInfo"])
        autopools.updated_pool_info(job.get("poolInfo"), body["poolInfo"])  # refused early
    doc = core.update_job(job_id, lambda d: _apply_update(d, body, replace))
    rows.set_job_scheduling(
        core.store, job_id, int(doc.get("priority") or 0), doc["executionInfo"].get("poolId")
    )
    arm_wall_clock(core, doc)
    check_all_complete(core, job_id)
    core.wake()
    return doc


def _apply_update(doc: Json, body: Json, replace: bool) -> None:
    if replace:
        for key in _REPLACED:
            doc.pop(key, None)
        doc.update(
            {
                "priority": 0,
                "onAllTasksComplete": "noaction",
                "constraints": {"maxTaskRetryCount": 0},
            }
        )
    pool_info = doc.get("poolInfo")
    doc.update({k: v for k, v in body.items() if k in _UPDATABLE})
    if "poolInfo" in body:
        doc["poolInfo"] = autopools.updated_pool_info(pool_info, body["poolInfo"])
        info = doc["executionInfo"]
        info["poolId"] = doc["poolInfo"].get("poolId") or info.get("poolId")


def arm_wall_clock(core: Core, doc: Json) -> None:
    """(Re)start the timer that terminates the job at its maxWallClockTime."""
    key = doc["id"].lower()
    with core.lock:
        _disarm_wall_clock(core, key)
        limit = shapes.seconds((doc.get("constraints") or {}).get("maxWallClockTime"))
        if limit is None or doc["state"] != JobState.ACTIVE:
            return
        created = _age(doc["creationTime"])
        timer = threading.Timer(
            max(0.0, limit - created), terminate, args=(core, doc["id"], "MaxWallClockTimeExpiry")
        )
        timer.daemon = True
        core.timers[key] = timer
        timer.start()


def _disarm_wall_clock(core: Core, job_id: str) -> None:
    """Cancel the job's wall-clock timer, if any (lock held)."""
    timer = core.timers.pop(job_id.lower(), None)
    if timer is not None:
        timer.cancel()


def _age(iso: str) -> float:
    import datetime as dt

    then = dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return (dt.datetime.now(dt.timezone.utc) - then).total_seconds()


def check_active(doc: Json) -> None:
    """409 unless the job is active: completed, being deleted or being terminated."""
    state = doc["state"]
    if state == JobState.COMPLETED:
        raise errors.job_completed(doc["id"])
    if state == JobState.DELETING:
        raise errors.job_being_deleted(doc["id"])
    if state == JobState.TERMINATING:
        raise errors.job_being_terminated(doc["id"])


def terminate_job(core: Core, job_id: str, reason: str | None) -> None:
    """The user's terminate: 409 unless the job is active."""
    check_active(core.job(job_id))
    terminate(core, job_id, reason or "UserTerminate")


def terminate(core: Core, job_id: str, reason: str) -> None:
    """Move an active job to terminating (once) and finish in the background."""
    with core.lock:
        doc = rows.job_doc(core.store, job_id)
        if doc is None or doc["state"] not in _TERMINABLE:
            return

        def terminating(d: Json) -> None:
            shapes.set_state(d, JobState.TERMINATING)
            # Recorded now so that a restart mid-termination completes with the same reason.
            d["executionInfo"]["terminateReason"] = reason

        core.update_job(job_id, terminating, state=JobState.TERMINATING)
        _disarm_wall_clock(core, job_id)
    in_background(finish_terminate, core, job_id, reason)


def in_background(
    work: Callable[[Core, str], None] | Callable[[Core, str, str], None], core: Core, *args: str
) -> None:
    """Finish a termination or deletion on its own thread. A stop of the service in between
    is not an error (the next start finishes the work), nor is the job vanishing meanwhile."""

    def run() -> None:
        try:
            work(core, *args)
        except StoreClosed:
            return
        except errors.BatchServiceError as exc:
            if exc.status != 404:
                # Not re-raised: on a thread that would only print a traceback and leave the
                # job 'terminating'/'deleting' with nobody saying why. The next start of the
                # service resumes unfinished terminations and deletions.
                log.warning("job %s: %s did not finish: %s", args[0], work.__name__, exc)

    threading.Thread(target=run, daemon=True, name=f"{work.__name__}-{args[0]}").start()


def _stop_tasks(core: Core, job_id: str, why: KillReason) -> None:
    key = job_id.lower()
    with core.lock:
        for run in core.runs_of(lambda r: r.job_id.lower() == key):
            run.kill(why)
    core.wait_runs_gone(lambda r: r.job_id.lower() == key)


def finish_terminate(core: Core, job_id: str, reason: str) -> None:
    """Kill running tasks, run release tasks, complete the job (also used after a restart)."""
    _stop_tasks(core, job_id, KillReason.TERMINATE)
    _release_tasks(core, job_id)

    def done(doc: Json) -> None:
        shapes.set_state(doc, JobState.COMPLETED)
        doc["executionInfo"]["endTime"] = shapes.now()
        doc["executionInfo"]["terminateReason"] = reason

    if not core.closing:
        autopools.job_ended(core, core.update_job(job_id, done, state=JobState.COMPLETED))
        core.schedules.job_ended(job_id)


def _release_tasks(core: Core, job_id: str) -> None:
    """Run the job release task on every node that ran the job's preparation task."""
    if core.closing:
        return
    job = core.job(job_id)
    if not job.get("jobReleaseTask"):
        return
    key = job_id.lower()
    with core.lock:
        nodes = [n for n in core.all_nodes() if key in n.prep]
    for node in nodes:
        core.agent.run_job_task(node, job, "jobReleaseTask")


def delete_job(core: Core, job_id: str) -> None:
    doc = core.job(job_id)
    if doc["state"] == JobState.DELETING:
        raise errors.job_being_deleted(job_id)
    core.update_job(
        job_id, lambda d: shapes.set_state(d, JobState.DELETING), state=JobState.DELETING
    )
    core.schedules.job_ended(job_id)
    with core.lock:
        _disarm_wall_clock(core, job_id)
    in_background(finish_delete, core, job_id)


def finish_delete(core: Core, job_id: str) -> None:
    """Kill the job's tasks, run release tasks, then forget the job and its task dirs."""
    _stop_tasks(core, job_id, KillReason.DELETE)
    _release_tasks(core, job_id)
    if core.closing:
        return
    job = core.job(job_id)
    rows.delete_job(core.store, job_id)
    autopools.job_ended(core, job)  # (a completed job's pool is already gone: no harm)
    key = job_id.lower()
    with core.lock:
        core.job_cache.pop(key, None)
        nodes = list(core.all_nodes())
        for node in nodes:
            node.prep.pop(key, None)
    for node in nodes:
        trees.discard(node.root / "workitems" / job_id)


def task_counts(core: Core, job_id: str) -> Json:
    """Counts of tasks and slots by state: one grouped query answered from a covering index
    (tens of milliseconds for 100,000 tasks), no document loaded."""
    core.job(job_id)
    keys = ("active", "running", "completed", "succeeded", "failed")
    tasks = dict.fromkeys(keys, 0)
    slots = dict.fromkeys(keys, 0)
    for group in rows.task_state_counts(core.store, job_id):
        buckets = ["running" if group.state == TaskState.PREPARING else group.state]
        if group.state == TaskState.COMPLETED:
            buckets.append("succeeded" if group.result == TaskResult.SUCCESS else "failed")
        for bucket in buckets:
            tasks[bucket] += group.tasks
            slots[bucket] += group.slots
    return {"taskCounts": tasks, "taskSlotCounts": slots}


def check_all_complete(core: Core, job_id: str) -> None:
    """onAllTasksComplete=terminatejob: terminate once no task is left to run (a job without
    tasks counts as complete, as on Batch)."""
    doc = rows.job_doc(core.store, job_id)
    if doc is None or doc["state"] != JobState.ACTIVE:
        return
    if doc.get("onAllTasksComplete") != "terminatejob":
        return
    if not rows.has_unfinished_task(core.store, job_id):
        terminate(core, job_id, "AllTasksComplete")
