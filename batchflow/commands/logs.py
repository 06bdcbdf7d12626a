"""``batchflow logs SPEC TASK``: a task's stdout (or stderr) through the task files API,
streamed in ranged chunks (a task may write gigabytes), byte for byte but for the secret
values batchflow itself holds (``redact_task_bytes``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

from batchflow.commands._common import load_names
from batchflow.engine.protocols import BatchService
from batchflow.errors import NotFound, UsageError
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
    return UsageError(f"task {task_id} in job {job_id} has not started yet: no output")


def logs_cmd(
    spec: str,
    task_id: str,
    stderr: bool,
    overrides: Sequence[str] = (),
    target: str | None = None,
    storage: str | None = None,
) -> int:
    """Print the task's stdout.txt (stderr.txt with ``--stderr``). A missing job or task is
    a usage error (exit 2): the user named something that is not there."""
    from batchflow.commands._target import nothing_local, open_target

    plan = load_names(spec, overrides)
    name = "stderr.txt" if stderr else "stdout.txt"
    if nothing_local(plan.spec_path, target):
        raise UsageError(f"{plan.spec_path.name} has not run here yet: no task {task_id}")
    with open_target(plan.spec_path, target, storage, read_only=True) as tgt:
        try:
            for data in stream_lines(tgt.batch, plan.job.id, task_id, name):
                sys.stdout.buffer.write(data)
        except NotFound:
            raise _missing(plan.job.id, task_id, tgt.batch) from None
    sys.stdout.buffer.flush()
    return 0
