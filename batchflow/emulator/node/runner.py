"""One task attempt on a node: job preparation, resource files, the process, outputs, outcome.

``launch`` runs under the core lock (called by the scheduler): it commits the task's move to
``preparing``/``running`` and hands the attempt to a thread. The thread never holds the lock
while a process runs; each outcome is committed to the store before the slot is freed and
the scheduler woken.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from batchflow.emulator import shapes
from batchflow.emulator.kinds import (
    TAKEN_OVER,
    FailureCategory,
    Json,
    KillReason,
    PrepState,
    TaskState,
)
from batchflow.emulator.node import executor, files
from batchflow.emulator.node.processes import run_job_task, run_process, task_env
from batchflow.emulator.node.scheduler import Candidate
from batchflow.emulator.state import outcomes, rows
from batchflow.emulator.state.core import Core, Run
from batchflow.emulator.state.nodes import Node
from batchflow.emulator.state.store import StoreClosed, StoreFailure

log = logging.getLogger("batchflow.emulator")


def launch(core: Core, node: Node, cand: Candidate) -> None:
    """Claim ``cand``'s slots on ``node`` and start its attempt (lock held)."""
    job = core.job_for_run(cand.job_id)
    job_key = cand.job_id.lower()
    needs_prep = (
        bool(job.get("jobPreparationTask")) and node.prep.get(job_key) != PrepState.SUCCEEDED
    )
    state = TaskState.PREPARING if needs_prep else TaskState.RUNNING
    task = core.update_task(
        cand.job_id,
        cand.task_id,
        lambda doc: _start_doc(doc, state, _node_info(core, node, job["id"], doc["id"])),
        state=state,
        node_id=node.id,
        result=None,
        dep_ok=None,
        expires=None,
    )
    node.used_slots += cand.slots
    node.running_tasks += 1
    node.note(f"task {job['id']}/{task['id']} started")
    run = Run(
        job_id=job["id"], task_id=task["id"], node=node, slots=cand.slots, woken_at=cand.woken_at
    )
    core.running[(job_key, cand.task_id.lower())] = run
    core.workers.submit(lambda: _attempt(core, run, job, task, needs_prep))


def _start_doc(doc: Json, state: TaskState, node_info: Json) -> None:
    """A task document moving to ``preparing`` or ``running``: the last attempt's end cleared."""
    shapes.set_state(doc, state)
    info = doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
    for key in ("endTime", "exitCode", "result", "failureInfo"):
        info.pop(key, None)
    if state == TaskState.RUNNING:
        info["startTime"] = shapes.now()
        if info.get("retryCount"):
            info["lastRetryTime"] = info["startTime"]
    doc["nodeInfo"] = node_info


def _node_info(core: Core, node: Node, job_id: str, task_id: str) -> Json:
    """The task's ``nodeInfo`` on ``node``."""
    root = f"workitems/{job_id}/job-1/{task_id}"
    return {
        "affinityId": f"TVM:{node.id}",
        "nodeUrl": core.node_url(node),
        "poolId": node.pool_id,
        "nodeId": node.id,
        "taskRootDirectory": root,
        "taskRootDirectoryUrl": f"{core.node_url(node)}/files/{root}",
    }


def _attempt(core: Core, run: Run, job: Json, task: Json, needs_prep: bool) -> None:
    try:
        if needs_prep and not _prepare(core, run, job):
            return
        _execute(core, run, job, task)
    except (StoreClosed, StoreFailure):
        # The service stopped under this attempt, or its store cannot record the outcome
        # (the service stops too: ``Core.fail``): the task stays "running" in the store and
        # is requeued by the next start, as a lost node's tasks are.
        return
    except Exception as exc:
        # Whatever went wrong (a file system error, a bug) must not leave the task "running"
        # for ever: it completes as failed, with the error in its failureInfo (as Batch
        # records a node's failure on the task). The trace goes to the log at INFO: shown by
        # the standalone emulator, never printed by an in-process run (no traceback to users).
        if _stopped(core, run):
            # Requeued, deleted or shut down: the error is most likely that (its directory
            # went away); whoever stopped it owns the task's state, so only log it.
            log.debug("stopped attempt of %s/%s raised", run.job_id, run.task_id, exc_info=True)
            return
        log.info("attempt of %s/%s failed", run.job_id, run.task_id, exc_info=True)
        _fail_unstarted(
            core,
            run,
            task,
            shapes.failure(
                FailureCategory.SERVER_ERROR,
                "Unknown",
                "The task could not be run by the local node",
                f"{type(exc).__name__}: {exc}",
            ),
        )
    finally:
        _release(core, run)


def _fail_unstarted(core: Core, run: Run, task: Json, failure: Json) -> None:
    """Complete an attempt that failed before or around its process (no outputs to upload),
    unless it was stopped: then its node or job went away and there is nothing to report."""
    if not _stopped(core, run):
        _finish(core, run, task, None, failure, upload=False)


def _release(core: Core, run: Run) -> None:
    with core.cond:
        run.node.used_slots -= run.slots
        run.node.running_tasks -= 1
        run.node.note(f"task {run.job_id}/{run.task_id} ended")
        key = (run.job_id.lower(), run.task_id.lower())
        if core.running.get(key) is run:
            del core.running[key]
        core.cond.notify_all()
        if not core.closing:
            from batchflow.emulator.node.allocation import drop_if_drained

            drop_if_drained(core, run.node)
            core.scheduler.dispatch_now()


def _stopped(core: Core, run: Run) -> bool:
    """True if the attempt was requeued, deleted or shut down: someone else owns its state."""
    return core.closing or run.kill_reason in TAKEN_OVER


def _prepare(core: Core, run: Run, job: Json) -> bool:
    """Run the job preparation task on this node once; False if the task cannot run here."""
    key = job["id"].lower()

    def started(proc: executor.Process) -> None:
        with core.lock:
            run.prep_process = proc
            if _stopped(core, run):
                proc.kill(KillReason.REQUEUE)

    with run.node.prep_lock(key):
        if run.node.prep.get(key) not in (PrepState.SUCCEEDED, PrepState.FAILED):
            ok = run_job_task(core, run.node, job, "jobPreparationTask", started)
            run.prep_process = None
            if _stopped(core, run):  # killed with its node or job: not a failure, rerun later
                return False
            wait = job["jobPreparationTask"].get("waitForSuccess", True)
            run.node.prep[key] = PrepState.SUCCEEDED if ok or not wait else PrepState.FAILED
    if _stopped(core, run):
        return False
    if run.node.prep[key] == PrepState.FAILED:
        # Batch does not run the job's tasks on a node whose preparation failed.
        core.update_task(
            run.job_id,
            run.task_id,
            lambda d: shapes.set_state(d, TaskState.ACTIVE),
            state=TaskState.ACTIVE,
            node_id=None,
        )
        core.touch(run.job_id)  # back in the queue
        return False

    def running(doc: Json) -> None:
        shapes.set_state(doc, TaskState.RUNNING)
        doc.setdefault("executionInfo", {})["startTime"] = shapes.now()

    core.update_task(run.job_id, run.task_id, running, state=TaskState.RUNNING)
    return True


def _execute(core: Core, run: Run, job: Json, task: Json) -> None:
    tdir = run.node.task_dir(job["id"], task["id"])
    failure = _stage(tdir, task)
    if failure is not None:
        _fail_unstarted(core, run, task, failure)
        return
    code, failure = _run_command(core, run, job, task, tdir)
    if not _stopped(core, run):
        _report(core, run, task, code, failure)


def _stage(tdir: Path, task: Json) -> Json | None:
    """Create the task's working directory and download its resource files; the failure, if
    either cannot be done."""
    try:
        os.makedirs(f"{tdir}/wd", exist_ok=True)
    except OSError as exc:
        return shapes.failure(
            FailureCategory.USER_ERROR,
            "ResourceDirectoryCreateFailed",
            f"The task directory could not be created: {exc.strerror}",
        )
    try:
        if task.get("resourceFiles"):
            files.download_resource_files(task["resourceFiles"], tdir / "wd")
    except files.FileError as exc:
        return shapes.failure(FailureCategory.USER_ERROR, exc.code, exc.message)
    return None


def _run_command(
    core: Core, run: Run, job: Json, task: Json, tdir: Path
) -> tuple[int | None, Json | None]:
    """Run the task's command line (unless the attempt was cancelled meanwhile): its exit
    code and the failure of its launch or wall clock, if any."""
    env = task_env(core, run.node, job, task, tdir)
    limit = task.get("constraints", {}).get("maxWallClockTime")

    def started(proc: executor.Process) -> None:
        with core.lock:
            run.process = proc
            if run.kill_reason:
                proc.kill(run.kill_reason)
        core.scheduler.record_latency(run.woken_at)
        if not core.closing:
            rows.set_task_process(core.store, run.job_id, run.task_id, proc.pid, proc.start_ticks)

    with core.lock:
        cancelled = run.kill_reason is not None
    if cancelled:
        return None, None
    return run_process(task["commandLine"], tdir, env, shapes.seconds(limit), started)


def _report(core: Core, run: Run, task: Json, code: int | None, failure: Json | None) -> None:
    """Turn the process's end into the task's outcome: terminated, retried, failed or done."""
    if run.kill_reason == KillReason.TERMINATE:
        _finish(core, run, task, code, shapes.user_terminated())
    elif failure is not None or code != 0:
        if failure is None and _retry(core, run, task):
            return
        _finish(core, run, task, code, failure or shapes.exit_failure())
    else:
        _finish(core, run, task, code, None)


def _retry(core: Core, run: Run, task: Json) -> bool:
    """Put a task that exited non-zero back in the queue if it has retries left."""
    limit = int(task.get("constraints", {}).get("maxTaskRetryCount") or 0)
    current = core.task(run.job_id, run.task_id)
    count = int(current.get("executionInfo", {}).get("retryCount", 0))
    if limit != -1 and count >= limit:
        return False

    def again(doc: Json) -> None:
        shapes.set_state(doc, TaskState.ACTIVE)
        doc["executionInfo"]["retryCount"] = count + 1

    core.update_task(run.job_id, run.task_id, again, state=TaskState.ACTIVE, pid=None)
    core.touch(run.job_id)  # back in the queue
    return True


def _finish(
    core: Core, run: Run, task: Json, code: int | None, failure: Json | None, upload: bool = True
) -> None:
    """Upload outputs, then commit the task's completion and run the job-level reactions."""
    tdir = run.node.task_dir(run.job_id, task["id"])
    success = failure is None and code == 0
    if upload:
        try:
            if task.get("outputFiles"):
                files.upload_output_files(task["outputFiles"], tdir, success)
        except files.FileError as exc:
            failure, success = (
                shapes.failure(FailureCategory.USER_ERROR, exc.code, exc.message),
                False,
            )
    with core.lock:
        if _stopped(core, run):
            return
        doc = outcomes.complete_task(core, run.job_id, task["id"], code, failure)
        run.node.total_run += 1
        run.node.total_succeeded += int(success)
    outcomes.after_task(core, run.job_id, doc)
