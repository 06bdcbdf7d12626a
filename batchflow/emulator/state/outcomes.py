"""What a task's outcome means: its completion record, its exit options, its dependents, and the
job's reaction (``onTaskFailure``, ``onAllTasksComplete``).

Batch defaults, applied when ``exitConditions`` say nothing: a success satisfies dependents and
leaves the job alone; a failure blocks dependents forever and, when the job's ``onTaskFailure`` is
``performexitoptionsjobaction``, terminates the job (terminateReason ``TaskFailed``). A task the
user terminated is not such a failure: only its ``exitConditions.default`` may act on the job.
"""

from __future__ import annotations

import time
from typing import Any

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import JobState, Json, TaskResult, TaskState
from batchflow.emulator.state import job_control, jobs, rows
from batchflow.emulator.state.core import Core

_PREPROCESSING = {
    "BlobNotFound",
    "BlobAccessDenied",
    "BlobDownloadMiscError",
    "ResourceFileCreateFailed",
    "CommandProgramNotFound",
    "CommandLaunchFailed",
}


def exit_options(doc: Json) -> Json:
    """The ``ExitOptions`` that apply to a completed task (empty when none do)."""
    conditions = doc.get("exitConditions") or {}
    info = doc.get("executionInfo") or {}
    code = info.get("exitCode")
    failure_code = (info.get("failureInfo") or {}).get("code", "")
    if ended_by_user(doc):
        # The killed process's exit code is the kill's, not the task's: only ``default``
        # speaks for a task the user ended.
        return dict(conditions.get("default") or {})
    if failure_code.startswith("FileUpload"):
        return dict(conditions.get("fileUploadError") or conditions.get("default") or {})
    if failure_code in _PREPROCESSING:
        return dict(conditions.get("preProcessingError") or conditions.get("default") or {})
    if code is not None:
        for mapping in conditions.get("exitCodes") or []:
            if mapping.get("code") == code:
                return dict(mapping.get("exitOptions") or {})
        for mapping in conditions.get("exitCodeRanges") or []:
            if mapping.get("start", 0) <= code <= mapping.get("end", -1):
                return dict(mapping.get("exitOptions") or {})
    if info.get("result") == TaskResult.SUCCESS:
        return {}
    return dict(conditions.get("default") or {})


def ended_by_user(doc: Json) -> bool:
    """Whether the task completed because a user terminated it (task or job terminate)."""
    found = (doc.get("executionInfo") or {}).get("failureInfo") or {}
    return found.get("code") == "TaskEnded" and found.get("category") == "usererror"


def complete_task(
    core: Core, job_id: str, task_id: str, code: int | None, failure: Json | None
) -> Json:
    """Commit a task's completion (exit code, result, failureInfo, dependency verdict)."""
    success = failure is None and code == 0

    def done(doc: Json) -> None:
        shapes.set_state(doc, TaskState.COMPLETED)
        info = doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        info["endTime"] = shapes.now()
        if code is not None:
            info["exitCode"] = code
        info["result"] = "success" if success else "failure"
        if failure is not None:
            info["failureInfo"] = failure
        action = exit_options(doc).get("dependencyAction") or ("satisfy" if success else "block")
        verdict["ok"] = int(shapes.any_of(action, "satisfy"))
        verdict["expires"] = _expiry(doc)

    verdict: dict[str, Any] = {}
    doc = core.update_task(
        job_id,
        task_id,
        done,
        state="completed",
        result="success" if success else "failure",
        pid=None,
        dep_ok=lambda _doc: verdict["ok"],
        expires=lambda _doc: verdict["expires"],
    )
    if verdict["expires"] is not None:
        core.janitor.note(verdict["expires"])
    core.completions.note()
    return doc


def _expiry(doc: Json) -> float | None:
    """When the task's directory may go (epoch seconds): completion + retentionTime."""
    retention = shapes.seconds((doc.get("constraints") or {}).get("retentionTime") or "P7D")
    return None if retention is None else time.time() + retention


def after_task(core: Core, job_id: str, doc: Json) -> None:
    """The job's reactions to a task that just completed."""
    try:
        job = core.job_for_run(job_id)
    except errors.BatchServiceError:  # deleted meanwhile
        return
    if job["state"] != JobState.ACTIVE:
        return
    if job.get("usesTaskDependencies"):
        release_dependents(core, job_id, str(doc["id"]))
    failed = (doc.get("executionInfo") or {}).get("result") == TaskResult.FAILURE
    if shapes.any_of(job.get("onTaskFailure"), "performexitoptionsjobaction"):
        # A task the user ended is no failure of the job's work: the job goes on unless the
        # task's exit options ask otherwise (Batch's implicit terminate is for failures).
        implicit = "terminate" if failed and not ended_by_user(doc) else "none"
        action = exit_options(doc).get("jobAction") or implicit
        if shapes.any_of(action, "terminate"):
            jobs.terminate(core, job_id, "TaskFailed")
            return
        if shapes.any_of(action, "disable"):
            job_control.disable_by_exit_action(core, job_id, str(doc["id"]))
            return
    if job.get("onAllTasksComplete") == "terminatejob":
        jobs.check_all_complete(core, job_id)


def dependencies_met(core: Core, job_id: str, depends_on: Json | None) -> bool:
    """Whether every task ``depends_on`` names has completed and satisfies its dependents.

    A named task that does not exist yet is not satisfied; a range is satisfied when it holds
    at least one task and every task in it (ids that are integers) is satisfied.
    """
    if not depends_on:
        return True
    ids = sorted({str(i).lower() for i in depends_on.get("taskIds") or []})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if rows.satisfied_count(core.store, job_id, chunk) != len(chunk):
            return False
    for span in depends_on.get("taskIdRanges") or []:
        held, unsatisfied = rows.range_verdict(
            core.store, job_id, int(span["start"]), int(span["end"])
        )
        if held == 0 or unsatisfied != 0:
            return False
    return True


def refresh_dependents(core: Core, job_id: str) -> None:
    """Mark ready the waiting tasks of ``job_id`` whose dependencies are now met."""
    waiting = rows.waiting_tasks(core.store, job_id)
    ready = [i for i, doc in waiting if dependencies_met(core, job_id, doc.get("dependsOn"))]
    if not ready:
        return
    rows.mark_ready(core.store, job_id, ready)
    core.touch(job_id)


def release_dependents(core: Core, job_id: str, task_id: str) -> None:
    """Mark ready the waiting tasks whose dependencies ``task_id``'s completion met: only
    those naming it (or a range holding it) are checked, not every waiting task of the job."""
    waiting = rows.waiting_on(core.store, job_id, task_id)
    ready = [i for i, doc in waiting if dependencies_met(core, job_id, doc.get("dependsOn"))]
    if ready:
        rows.mark_ready(core.store, job_id, ready)
        core.touch(job_id)
