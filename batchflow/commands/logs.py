"""``batchflow logs SPEC TASK``: a task's stdout (or stderr) through the task files API."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from batchflow.commands._common import load_plan
from batchflow.engine.redact import redact
from batchflow.errors import NotFound


def logs_cmd(
    spec: str,
    task_id: str,
    stderr: bool,
    overrides: Sequence[str] = (),
    target: str | None = None,
    storage: str | None = None,
) -> int:
    """Print the task's stdout.txt (stderr.txt with ``--stderr``)."""
    from batchflow.commands._target import nothing_local, open_target

    plan = load_plan(spec, overrides)
    name = "stderr.txt" if stderr else "stdout.txt"
    if nothing_local(plan.spec_path, target):
        raise NotFound(
            f"{plan.spec_path.name} has not run here yet: no task {task_id}", code="JobNotFound"
        )
    with open_target(plan.spec_path, target, storage) as tgt:
        try:
            data = tgt.batch.read_task_file(plan.job.id, task_id, name)
        except NotFound as exc:
            raise NotFound(
                f"no {name} for task {task_id} in job {plan.job.id} (has it run?)",
                code=exc.code,
                request_id=exc.request_id,
            ) from None
    sys.stdout.write(redact(data.decode("utf-8", "replace")))
    sys.stdout.flush()
    return 0
