"""Plans built by hand for engine tests (independent of the spec loader)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from batchflow.plan_model import (
    CleanupPlan,
    ImageRef,
    InputFile,
    JobPlan,
    OutputPlan,
    Plan,
    PoolPlan,
    StartTaskPlan,
    TaskPlan,
    Upload,
)

UBUNTU = ImageRef(
    "canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", "latest", "batch.node.ubuntu 22.04"
)


def upload_of(path: Path, blob: str) -> Upload:
    data = path.read_bytes()
    return Upload(path, blob, len(data), hashlib.md5(data).digest())


def make_plan(
    root: Path,
    tasks: Sequence[TaskPlan] = (),
    uploads: Sequence[Upload] = (),
    *,
    name: str = "t",
    nodes: int = 2,
    slots: int = 1,
    start_task: StartTaskPlan | None = None,
    timeout_s: int | None = 600,
    print_stdout: bool = False,
    cleanup: CleanupPlan | None = None,
    download: bool = True,
) -> Plan:
    pool = PoolPlan(
        id=f"{name}-pool",
        vm_size="standard_a1_v2",
        image=UBUNTU,
        dedicated=nodes,
        spot=0,
        slots_per_node=slots,
        start_task=start_task,
    )
    return Plan(
        name=name,
        spec_path=root / f"{name}.yaml",
        input_container=f"{name}-input",
        output_container=f"{name}-output",
        uploads=list(uploads),
        pool=pool,
        job=JobPlan(
            id=f"{name}-job", pool_id=pool.id, uses_dependencies=False, timeout_s=timeout_s
        ),
        tasks=list(tasks),
        download_dir=(root / "out") if download else None,
        print_stdout=print_stdout,
        cleanup=cleanup or CleanupPlan(job=False, pool=False, inputs=False),
    )


def shell_task(
    task_id: str,
    script: str,
    *,
    inputs: Sequence[InputFile] = (),
    outputs: Sequence[str] = (),
    retries: int = 0,
) -> TaskPlan:
    return TaskPlan(
        id=task_id,
        command=f"/bin/sh -c '{script}'",
        inputs=tuple(inputs),
        outputs=tuple(OutputPlan(p, "", "tasksuccess") for p in outputs),
        max_retries=retries,
    )
