"""Disabling and enabling a job, and the status of its preparation and release tasks per node.

Disable (``disableTasks``): ``requeue`` kills the running tasks and puts them back in the queue
(requeueCount + 1), ``terminate`` kills them and completes them with failureInfo ``TaskEnded``,
``wait`` lets them finish. The job shows ``disabling`` until none of its tasks runs, then
``disabled``; the scheduler starts tasks of active jobs only, so none starts meanwhile (tasks
may still be added). Enable puts the job back to ``active`` and wakes the scheduler.
"""

from __future__ import annotations

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import JobState, Json, KillReason
from batchflow.emulator.state import jobs, rows, tasks
from batchflow.emulator.state.core import Core

_KILLS = {"requeue": KillReason.REQUEUE, "terminate": KillReason.TERMINATE}


def disable_job(core: Core, job_id: str, disable_tasks: str, *, done_task: str = "") -> None:
    """409 unless the job is active; then disabling, and disabled once its tasks are dealt
    with (in the background, as the service: the SDK polls for the end of ``disabling``)."""
    doc = core.job(job_id)
    jobs.check_active(doc)
    if doc["state"] != JobState.ACTIVE:
        raise errors.job_not_active(job_id)
    core.update_job(
        job_id, lambda d: shapes.set_state(d, JobState.DISABLING), state=JobState.DISABLING
    )
    jobs.in_background(finish_disable, core, doc["id"], disable_tasks, done_task)


def disable_by_exit_action(core: Core, job_id: str, task_id: str) -> None:
    """Task ``task_id``'s exit condition says ``jobAction: disable``: Batch documents it as
    the disable API with ``requeue`` (the other running tasks go back to the queue; the task
    itself has completed, though its run is still on record). A job no longer active stays
    as it is: a task's outcome never fails on it."""
    with core.lock:
        doc = rows.job_doc(core.store, job_id)
        if doc is None or doc["state"] != JobState.ACTIVE:
            return
        disable_job(core, job_id, "requeue", done_task=task_id)


def finish_disable(core: Core, job_id: str, disable_tasks: str, done_task: str = "") -> None:
    key = job_id.lower()
    with core.lock:
        runs = [
            r for r in core.runs_of(lambda r: r.job_id.lower() == key) if r.task_id != done_task
        ]
        kill = _KILLS.get(disable_tasks)
        if kill is not None:
            for run in runs:
                run.kill(kill)
    core.wait_runs_gone(lambda r: r.job_id.lower() == key, timeout=3600.0)
    if kill == KillReason.REQUEUE:
        for run in runs:
            tasks.requeue(core, job_id, run.task_id)
    _settle(core, job_id, JobState.DISABLING, JobState.DISABLED)


def enable_job(core: Core, job_id: str) -> None:
    """A disabled job runs its tasks again (an active one is left as it is)."""
    doc = core.job(job_id)
    jobs.check_active(doc)
    if doc["state"] == JobState.DISABLING:
        raise errors.invalid_operation("The job is being disabled: enable it once disabled.")
    if doc["state"] == JobState.DISABLED:
        _settle(core, job_id, JobState.DISABLED, JobState.ACTIVE)
        core.touch(job_id)
        jobs.check_all_complete(core, job_id)  # its last tasks may have ended while disabled


def settle_after_restart(core: Core, job_id: str, state: str) -> None:
    """A job a stop caught disabling (its running tasks were requeued by the restart) or
    enabling."""
    if state == JobState.DISABLING:
        _settle(core, job_id, JobState.DISABLING, JobState.DISABLED)
    else:
        _settle(core, job_id, JobState.ENABLING, JobState.ACTIVE)


def _settle(core: Core, job_id: str, start: JobState, end: JobState) -> None:
    """Move the job from ``start`` to ``end``, unless something else (a terminate, a delete)
    moved it meanwhile: under the lock, as ``jobs.terminate`` reads and moves it."""
    with core.lock:
        if core.job(job_id)["state"] == start:
            core.update_job(job_id, lambda d: shapes.set_state(d, end), state=end)


def preparation_and_release_status(core: Core, job_id: str) -> list[Json]:
    """Per node that ran the job's preparation or release task: their executionInfo (an
    empty list for a job without either, or before any ran)."""
    job = core.job(job_id)
    key = job["id"].lower()
    out: list[Json] = []
    with core.lock:
        for node in core.all_nodes():
            prep = node.job_task_runs.get((key, "jobPreparationTask"))
            release = node.job_task_runs.get((key, "jobReleaseTask"))
            if prep is None and release is None:
                continue
            item: Json = {
                "poolId": node.pool_id,
                "nodeId": node.id,
                "nodeUrl": core.node_url(node),
            }
            if prep is not None:
                item["jobPreparationTaskExecutionInfo"] = dict(prep)
            if release is not None:
                item["jobReleaseTaskExecutionInfo"] = {
                    k: v for k, v in release.items() if k not in ("retryCount", "lastRetryTime")
                }
            out.append(item)
    return out
