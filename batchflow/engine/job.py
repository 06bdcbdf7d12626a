"""Stage 3: create the job, or attach to the one a previous run created."""

from __future__ import annotations

from batchflow.engine.bodies import job_body
from batchflow.engine.events import Event, EventSink
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BatchService, JobInfo
from batchflow.errors import BackendError, Conflict
from batchflow.plan_model import Plan


def ensure_job(plan: Plan, batch: BatchService, sink: EventSink) -> JobInfo:
    """The job, created if absent (JobExists is fine: a previous run made it)."""
    job = retry_transient(lambda: batch.get_job(plan.job.id))
    if job is None:
        try:
            retry_transient(lambda: batch.create_job(job_body(plan.job)))
        except Conflict as exc:
            if exc.code != "JobExists":
                raise
        job = retry_transient(lambda: batch.get_job(plan.job.id))
        if job is None:
            raise BackendError(f"job {plan.job.id} vanished right after it was created")
        sink(Event("job", f"created job {job.id}"))
    else:
        sink(Event("job", f"attached to job {job.id}"))
    if job.state in ("deleting", "terminating", "completed", "disabling", "disabled"):
        raise Conflict(
            f"job {job.id} is {job.state} and cannot take tasks; remove it with "
            f"`batchflow down {plan.spec_path.name}` and run again",
            code="JobNotActive",
        )
    if job.pool_id and job.pool_id != plan.pool.id:
        raise Conflict(
            f"job {job.id} runs on pool {job.pool_id}, the spec says "
            f"{plan.pool.id}; remove it with `batchflow down` first",
            code="JobPoolMismatch",
        )
    return job
