"""``build_plan(spec) -> Plan``: what a run would create, upload and add. Touches no service.

The only I/O is reading the input files to size and hash them (their MD5 decides, at run time,
which ones need uploading again). Tasks stay lazy: ``Plan.tasks`` renders as it is iterated.
"""

from __future__ import annotations

from collections.abc import Iterable

from batchflow.disk import file_md5
from batchflow.errors import UsageError
from batchflow.plan_model import (
    InputFile,
    JobPlan,
    Plan,
    PoolPlan,
    StartTaskPlan,
    StepPlan,
    TaskSource,
    Upload,
)
from batchflow.spec.expand import RenderedTasks
from batchflow.spec.model import LocalFile, Spec
from batchflow.spec.steps_expand import WorkflowTasks, final_task, workflow_tasks


def _uploads(files: Iterable[LocalFile]) -> tuple[Upload, ...]:
    seen: dict[str, Upload] = {}
    for f in files:
        if f.blob in seen:
            continue
        try:
            seen[f.blob] = Upload(f.local, f.blob, f.local.stat().st_size, file_md5(f.local))
        except OSError as exc:  # vanished or unreadable since the spec was checked
            raise UsageError(f"cannot read input {f.local}: {exc.strerror or exc}") from None
    return tuple(seen.values())


def _pool(spec: Spec) -> PoolPlan:
    p = spec.pool
    start = None
    if p.start_task is not None:
        st = p.start_task
        start = StartTaskPlan(
            command=st.command,
            inputs=tuple(InputFile(f.blob, f.local.name) for f in st.files),
            environment=dict(st.environment),
            elevated=st.elevated,
            wait_for_success=st.wait_for_success,
            max_retries=st.retries,
        )
    return PoolPlan(
        id=p.id,
        vm_size=p.vm_size,
        image=p.image,
        dedicated=p.dedicated,
        spot=p.spot,
        slots_per_node=p.slots_per_node,
        start_task=start,
        autoscale_formula=p.autoscale_formula,
        autoscale_interval_s=p.autoscale_interval_s,
    )


def _steps(spec: Spec) -> tuple[WorkflowTasks | None, tuple[StepPlan, ...]]:
    if spec.workflow is None:
        return None, ()
    tasks = workflow_tasks(spec.workflow, spec.inputs)
    return tasks, tuple(
        StepPlan(
            s.name,
            tasks.count(s),
            s.source,
            s.gather,
            s.needs,
            s.download,
            s.dynamic,
            s.pattern,
        )
        for s in spec.workflow.steps
    )


def build_plan(spec: Spec, *, hash_inputs: bool = True) -> Plan:
    """The Plan for a validated ``spec``. ``hash_inputs`` False (status, logs, down: they
    upload nothing) leaves ``uploads`` empty rather than read every input file."""
    workflow, steps = _steps(spec)
    tasks: TaskSource = workflow if workflow is not None else RenderedTasks(spec)
    final = None
    if spec.tasks.final is not None:
        final = final_task(spec, tasks)
    uses_dependencies = (
        final is not None
        or any(i.depends_on for i in spec.tasks.items)
        or any(s.source or s.gather or s.needs for s in steps)
    )
    start_files = spec.pool.start_task.files if spec.pool.start_task else ()
    return Plan(
        name=spec.name,
        spec_path=spec.path,
        input_container=spec.input_container,
        output_container=spec.output_container,
        uploads=_uploads((*spec.inputs, *start_files)) if hash_inputs else (),
        pool=_pool(spec),
        job=JobPlan(
            id=spec.job_id,
            pool_id=spec.pool.id,
            uses_dependencies=uses_dependencies,
            timeout_s=spec.job_timeout_s,
            final_task=final,
        ),
        tasks=tasks,
        download_dir=spec.download,
        print_stdout=spec.tasks.print_stdout,
        cleanup=spec.cleanup,
        steps=steps,
        keep_logs=spec.keep_logs,
    )
