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
    for _ in range(max(retries, 0) + 1):
        try:
            files.download_resource_files(spec.get("resourceFiles"), tdir / "wd")
        except files.FileError:
            return False
        code, _failure = run_process(
            spec["commandLine"], tdir, env, shapes.seconds(limit), on_start
        )
        if code == 0:
            return True
        if core.closing:
            return False
    return False


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
