"""Stage 7: delete what the spec says to delete, after success (or always, if told)."""

from __future__ import annotations

from batchflow.engine.events import Event, EventSink
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BatchService, BlobStore
from batchflow.plan_model import Plan


def cleanup(
    plan: Plan, batch: BatchService, blobs: BlobStore, succeeded: bool, sink: EventSink
) -> list[str]:
    """Delete the job, pool and input container as the plan's cleanup says; what was done."""
    rules = plan.cleanup
    if not succeeded and not rules.always:
        return []
    done = []
    if rules.job:
        retry_transient(lambda: batch.delete_job(plan.job.id))
        done.append(f"job {plan.job.id}")
    if rules.pool:
        retry_transient(lambda: batch.delete_pool(plan.pool.id))
        done.append(f"pool {plan.pool.id}")
    if rules.inputs:
        retry_transient(lambda: blobs.delete_container(plan.input_container))
        done.append(f"container {plan.input_container}")
    if done:
        sink(Event("cleanup", "deleted " + ", ".join(done)))
    return done
