"""Stage 3: create the job, or attach to the one a previous run created."""

from __future__ import annotations

from batchflow.engine.bodies import job_body
from batchflow.engine.events import Event, EventSink
from batchflow.engine.polling import LOCAL_POLL, PollPolicy, retry_transient, wait_gone
from batchflow.engine.protocols import BatchService, JobInfo
from batchflow.errors import BackendError, Conflict, SpecMismatch
from batchflow.plan_model import Plan


def ensure_job(
    plan: Plan,
    batch: BatchService,
    sink: EventSink,
    poll: PollPolicy = LOCAL_POLL,
    timeout_s: float = 1800.0,
) -> JobInfo:
    """The job, created if absent (JobExists is fine: a previous run made it). A job still
    being deleted (a cleanup moments ago) is waited for, then created afresh."""
    job = retry_transient(lambda: batch.get_job(plan.job.id))
    if job is not None and job.state == "deleting":
        sink(Event("job", f"waiting for the old job {job.id} to be deleted"))
        wait_gone(lambda: batch.get_job(plan.job.id), poll, timeout_s, f"job {plan.job.id}")
        job = None
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
    if job.state in ("terminating", "completed", "disabling", "disabled"):
        raise SpecMismatch(
            f"job {job.id} is {job.state} and cannot take tasks; remove it with "
            f"`batchflow down {plan.spec_path.name}` and run again",
            code="JobNotActive",
        )
    if job.pool_id and job.pool_id != plan.pool.id:
        raise SpecMismatch(
            f"job {job.id} runs on pool {job.pool_id}, the spec says "
            f"{plan.pool.id}; remove it with `batchflow down` first",
            code="JobPoolMismatch",
        )
    return job
