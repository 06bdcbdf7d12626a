"""What tasks, job preparation/release tasks and start tasks share: the task environment and
running one command line to completion in a task directory (``stdout.txt``, ``stderr.txt``,
``wd/``), with an optional wall-clock limit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from batchflow.emulator import shapes
from batchflow.emulator.kinds import FailureCategory, Json
from batchflow.emulator.node import executor, files
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.nodes import Node, with_settings


def task_env(core: Core, node: Node, job: Json, task: Json, tdir: Path) -> dict[str, str]:
    env = node.env(core.account_name, core.account_url)
    env.update(
        {
            "AZ_BATCH_JOB_ID": job["id"],
            "AZ_BATCH_TASK_ID": task["id"],
            "AZ_BATCH_TASK_DIR": str(tdir),
            "AZ_BATCH_TASK_WORKING_DIR": f"{tdir}/wd",
        }
    )
    prep = job.get("jobPreparationTask")
    if prep:
        prep_dir = node.job_dir(job["id"]) / (prep.get("id") or "jobpreparation")
        env["AZ_BATCH_JOB_PREP_DIR"] = str(prep_dir)
        env["AZ_BATCH_JOB_PREP_WORKING_DIR"] = str(prep_dir / "wd")
    return with_settings(env, job.get("commonEnvironmentSettings"), task.get("environmentSettings"))


def run_job_task(
    core: Core,
    node: Node,
    job: Json,
    kind: str,
    on_start: Callable[[executor.Process], None] = lambda _proc: None,
) -> bool:
    """Run the job's ``jobPreparationTask`` or ``jobReleaseTask`` on ``node``; True on success.
    ``on_start`` sees each process started (so that it can be killed)."""
    spec = job[kind]
    name = spec.get("id") or ("jobpreparation" if kind == "jobPreparationTask" else "jobrelease")
    tdir = node.job_dir(job["id"]) / name
    (tdir / "wd").mkdir(parents=True, exist_ok=True)
    env = task_env(core, node, job, {"id": name, **spec}, tdir)
    limit = spec.get("maxWallClockTime") or spec.get("constraints", {}).get("maxWallClockTime")
    retries = int(spec.get("constraints", {}).get("maxTaskRetryCount") or 0)
    record = _job_task_record(core, node, job, kind, name)
    for attempt in range(max(retries, 0) + 1):
        _attempt_started(record, attempt)
        try:
            files.download_resource_files(spec.get("resourceFiles"), tdir / "wd")
        except files.FileError as exc:
            _ended(record, None, shapes.failure(FailureCategory.USER_ERROR, exc.code, exc.message))
            return False
        code, failure = run_process(spec["commandLine"], tdir, env, shapes.seconds(limit), on_start)
        _ended(record, code, failure if code == 0 else failure or shapes.exit_failure())
        if code == 0:
            return True
        if core.closing:
            return False
    return False


def _job_task_record(core: Core, node: Node, job: Json, kind: str, name: str) -> Json:
    """The run's executionInfo on ``node``, as the job's preparation/release status shows it."""
    root = f"workitems/{job['id']}/job-1/{name}"
    record: Json = {
        "taskRootDirectory": root,
        "taskRootDirectoryUrl": f"{core.node_url(node)}/files/{root}",
    }
    with core.lock:
        node.job_task_runs[(job["id"].lower(), kind)] = record
    return record


def _attempt_started(record: Json, attempt: int) -> None:
    started = shapes.now()
    for key in ("endTime", "exitCode", "result", "failureInfo"):
        record.pop(key, None)
    record.update(startTime=started, state="running")
    if attempt:
        record.update(retryCount=attempt, lastRetryTime=started)
    else:
        record["retryCount"] = 0


def _ended(record: Json, code: int | None, failure: Json | None) -> None:
    record.update(endTime=shapes.now(), state="completed")
    if code is not None:
        record["exitCode"] = code
    record["result"] = "success" if failure is None and code == 0 else "failure"
    if failure is not None:
        record["failureInfo"] = failure


def run_process(
    command_line: str,
    tdir: Path,
    env: dict[str, str],
    wall: float | None,
    on_start: Callable[[executor.Process], None],
) -> tuple[int | None, Json | None]:
    """Run to completion in ``tdir/wd``; ``(exit code, failureInfo for a launch failure or a
    wall-clock kill)``."""
    try:
        # Plain strings: this runs once per task and pathlib joins are measurably slow.
        proc = executor.start(
            command_line, f"{tdir}/wd", env, f"{tdir}/stdout.txt", f"{tdir}/stderr.txt"
        )
    except executor.LaunchError as exc:
        return None, shapes.failure(FailureCategory.USER_ERROR, exc.code, exc.message)
    on_start(proc)
    code = proc.wait(wall)
    if proc.killed_by == "walltime":
        return code, shapes.wall_clock_expired(f"{wall:g}s")
    return code, None
