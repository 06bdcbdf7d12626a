"""Stage 7: delete what the spec says to delete, after success (or always, if told)."""

from __future__ import annotations

from batchflow.engine.events import Event, EventSink
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BatchService, BlobStore
from batchflow.plan_model import Plan


def cleanup(
    plan: Plan, batch: BatchService, blobs: BlobStore, failure: str | None, sink: EventSink
) -> tuple[list[str], str]:
    """Delete the job, pool and input container as the plan's cleanup says, unless the run
    failed (``failure`` says why) and the spec cleans up after success only. Returns what
    was deleted and a line saying what was done or kept, and why."""
    rules = plan.cleanup
    planned = [
        (rules.job, f"job {plan.job.id}", lambda: batch.delete_job(plan.job.id)),
        (rules.pool, f"pool {plan.pool.id}", lambda: batch.delete_pool(plan.pool.id)),
        (
            rules.inputs,
            f"container {plan.input_container}",
            lambda: blobs.delete_container(plan.input_container),
        ),
    ]
    todo = [(what, delete) for wanted, what, delete in planned if wanted]
    if failure is not None and not rules.always:
        if not todo:
            return [], "nothing to delete (the spec keeps everything)"
        kept = " and ".join(what for what, _ in todo)
        return [], (
            f"kept {kept}: {failure} (the spec cleans up after success only), so they stay "
            f"for a look; `batchflow down {plan.spec_path.name}` deletes them"
        )
    done = []
    for what, delete in todo:
        retry_transient(delete)
        done.append(what)
    if done:
        sink(Event("cleanup", "deleted " + ", ".join(done)))
    return done, "done" if done else "nothing to delete (the spec keeps everything)"
