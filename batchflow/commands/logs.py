"""``batchflow logs SPEC TASK``: a task's stdout (or stderr) through the task files API,
streamed in ranged chunks (a task may write gigabytes), byte for byte but for the secret
values batchflow itself holds (``redact_task_bytes``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

from batchflow.commands._common import load_names
from batchflow.engine.protocols import BatchService
from batchflow.errors import NotFound, UsageError
from batchflow.plan_model import Plan
from batchflow.redact import redact_task_bytes

CHUNK = 4 << 20
MAX_CARRY = 1 << 20  # a "line" longer than this is redacted in pieces rather than held


def stream_lines(batch: BatchService, job_id: str, task_id: str, name: str) -> Iterator[bytes]:
    """The file's bytes in pieces that end on a line break (but for overlong lines), each
    redacted whole, so a secret is never split across two pieces unredacted."""
    size = batch.task_file_size(job_id, task_id, name)
    carry = b""
    for start in range(0, size, CHUNK):
        data = carry + batch.read_task_file(job_id, task_id, name, start, min(CHUNK, size - start))
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < MAX_CARRY:
            carry = data
            continue
        cut = cut or len(data)
        carry = data[cut:]
        yield redact_task_bytes(data[:cut])
    if carry:
        yield redact_task_bytes(carry)


def _missing(job_id: str, task_id: str, batch: BatchService) -> UsageError:
    """Say which is missing: the job, the task, or (it has not run yet) its file."""
    if batch.get_job(job_id) is None:
        return UsageError(f"no job {job_id}: the spec has not run here yet")
    if task_id.lower() not in {i.lower() for i in batch.list_task_ids(job_id)}:
        return UsageError(f"no task {task_id} in job {job_id}")
    quoted = task_id.replace("'", "''")
    listed = batch.list_tasks(job_id, f"id eq '{quoted}'")
    node = listed[0].node_id if listed else None
    if node:
        job = batch.get_job(job_id)
        pool = batch.get_pool(job.pool_id) if job else None
        where = "its pool was deleted" if pool is None else f"pool {pool.id} no longer has it"
        if pool is None or node not in {n.id for n in batch.list_nodes(pool.id)}:
            return UsageError(
                f"task {task_id} ran on node {node}, which is gone ({where}): its stdout and "
                "stderr went with it (keep_logs in the spec keeps them with the run record)"
            )
    return UsageError(f"task {task_id} in job {job_id} has not started yet: no output")


def logs_cmd(
    spec: str,
    task_id: str,
    stderr: bool,
    overrides: Sequence[str] = (),
    target: str | None = None,
    storage: str | None = None,
    follow: bool = False,
) -> int:
    """Print the task's stdout.txt (stderr.txt with ``--stderr``), from the job while it has
    the task, else from the last run record that kept it. A missing job or task is a usage
    error (exit 2): the user named something that is not there."""
    from batchflow.commands._target import nothing_local, open_target

    plan = load_names(spec, overrides)
    name = "stderr.txt" if stderr else "stdout.txt"
    if nothing_local(plan.spec_path, target):
        if _from_record(plan, task_id, stderr):
            return 0
        raise UsageError(f"{plan.spec_path.name} has not run here yet: no task {task_id}")
    with open_target(plan.spec_path, target, storage, read_only=True, attach=True) as tgt:
        try:
            if follow:
                follow_task(tgt.batch, plan.job.id, task_id, name)
            else:
                for data in stream_lines(tgt.batch, plan.job.id, task_id, name):
                    sys.stdout.buffer.write(data)
        except NotFound:
            missing = _missing(plan.job.id, task_id, tgt.batch)
            try:
                kept = _from_record(plan, task_id, stderr)
            except UsageError as not_kept:
                if tgt.batch.get_job(plan.job.id) is None:
                    raise not_kept from None  # the job is gone: the record says the most
                kept = False
            if not kept:
                raise missing from None
    sys.stdout.buffer.flush()
    return 0


def _from_record(plan: Plan, task_id: str, stderr: bool) -> bool:
    """Print the task's output as the newest run record that has the task kept it; False
    when no record has the task. A task whose output was not kept raises UsageError."""
    from batchflow.commands._common import say
    from batchflow.engine.records import list_runs

    stream = "stderr" if stderr else "stdout"
    for rec in list_runs(plan.spec_path):
        task = rec.tasks.get(task_id) or next(
            (t for i, t in rec.tasks.items() if i.lower() == task_id.lower()), None
        )
        if task is None:
            continue
        path = rec.log_path(task.id, stream)
        if not path.is_file():
            raise UsageError(
                f"task {task.id} ran in run {rec.run_id} ({task.result or task.state}), but "
                f"its {stream} was not kept (keep_logs: {rec.logs_kept}; set keep_logs: all "
                "in the spec to keep every task's output)"
            )
        say(f"(task {task.id}'s {stream} as run {rec.run_id} kept it: its last 64 KiB)")
        sys.stdout.buffer.write(path.read_bytes())
        return True
    return False


def follow_task(batch: BatchService, job_id: str, task_id: str, name: str) -> None:
    """Print the file as it grows until the task has completed (polling its size)."""
    import time

    from batchflow.commands._common import say
    from batchflow.errors import UNREACHABLE, TransientError

    shown, quoted = 0, task_id.replace("'", "''")
    while True:
        try:
            listed = batch.list_tasks(job_id, f"id eq '{quoted}'")
        except (TransientError, NotFound) as exc:
            # The local run that served it ended (its emulator stops with it) or cleanup
            # deleted the job, after what was shown: nothing more will come.
            if shown and (isinstance(exc, NotFound) or exc.code == UNREACHABLE):
                say(f"(the run ended; task {task_id}'s {name} is complete above)")
                return
            raise
        if not listed:
            if shown:
                return
            raise NotFound(f"no task {task_id}")
        try:
            size = batch.task_file_size(job_id, task_id, name)
        except NotFound:
            size = 0
            if listed[0].state == "completed":
                raise
        if size > shown:
            data = batch.read_task_file(job_id, task_id, name, shown, size - shown)
            sys.stdout.buffer.write(redact_task_bytes(data))
            sys.stdout.buffer.flush()
            shown += len(data)
        elif listed[0].state == "completed":
            return
        time.sleep(0.5)
