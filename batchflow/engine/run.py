"""The whole run: the seven stages in order, each idempotent, so a rerun resumes."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from batchflow.engine.bodies import task_body
from batchflow.engine.cache import Cache, decide, record
from batchflow.engine.cleanup import cleanup
from batchflow.engine.collect import Collected, collect, download_outputs
from batchflow.engine.events import Event, EventSink, StageDone
from batchflow.engine.expand import Expander, foresee, steps_json
from batchflow.engine.fingerprint import fingerprint, input_md5s
from batchflow.engine.inputs import StagedInputs, stage_inputs
from batchflow.engine.job import ensure_job
from batchflow.engine.polling import LOCAL_POLL, Pause, PollPolicy, pause
from batchflow.engine.pool import ensure_pool, wait_for_nodes
from batchflow.engine.protocols import BatchService, BlobStore, Json, TaskCounts
from batchflow.engine.prune import clear_reruns, prune_static_gathers
from batchflow.engine.tasks import add_missing_tasks, all_tasks, without
from batchflow.engine.watch import watch
from batchflow.plan_model import Plan, TaskPlan


@dataclass(frozen=True)
class RunOptions:
    """How to run: poll policy (local or Azure), parallelism, whether to skip cleanup."""

    poll: PollPolicy = LOCAL_POLL
    workers: int = 16
    keep: bool = False
    pool_timeout_s: float = 1800.0
    # The watch loop's pause between polls (the local target's returns when a task completes).
    wait: Pause = pause


@dataclass
class RunResult:
    """What a run did and how it ended."""

    uploaded: int = 0
    uploaded_bytes: int = 0
    unchanged_inputs: int = 0
    pool_created: bool = False
    tasks_added: int = 0
    tasks_existing: int = 0
    tasks_changed: int = 0  # deleted and added again: their definition changed
    up_to_date: int = 0  # not run: succeeded in an earlier run, outputs still there
    dynamic: int = 0  # tasks of dynamic steps made while it ran (up to date or not)
    not_in_spec: tuple[str, ...] = ()  # tasks in the job the spec no longer has: left alone
    counts: TaskCounts | None = None
    collected: Collected | None = None
    cleaned: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)  # a workflow's, step by step
    up_to_date_ids: tuple[str, ...] = ()  # the tasks up to date, dynamic ones included

    @property
    def succeeded(self) -> bool:
        """Every task ran to success and produced every output it declared."""
        col = self.collected
        return col is not None and not col.failed and not col.missing

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary (``batchflow run --json``)."""
        c, col = self.counts, self.collected
        return {
            "succeeded": self.succeeded,
            "inputs": {
                "uploaded": self.uploaded,
                "uploaded_bytes": self.uploaded_bytes,
                "unchanged": self.unchanged_inputs,
            },
            "pool": {"created": self.pool_created},
            "tasks": {
                "added": self.tasks_added,
                "already_present": self.tasks_existing,
                "changed": self.tasks_changed,
                "up_to_date": self.up_to_date,
                "not_in_spec": list(self.not_in_spec),
                **(
                    {"succeeded": c.succeeded, "failed": c.failed, "completed": c.completed}
                    if c
                    else {}
                ),
            },
            "failed_tasks": [
                {
                    "id": f.task_id,
                    "exit_code": f.exit_code,
                    "category": f.category,
                    "message": f.message,
                    "stderr_tail": f.stderr_tail,
                }
                for f in (col.failed if col else ())
            ],
            "downloaded": [str(p) for p in (col.downloaded if col else ())],
            "refused_outputs": list(col.refused if col else ()),
            "missing_outputs": [
                {"task": m.task_id, "pattern": m.pattern} for m in (col.missing if col else ())
            ],
            "blocked_tasks": list(col.blocked if col else ()),
            "stdout": [
                {"task": o.task_id, "node": o.node_id, "stdout": o.stdout}
                for o in (col.outputs if col else ())
            ],
            **({"steps": self.steps} if self.steps else {}),
            "cleaned_up": self.cleaned,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


class _Timer:
    def __init__(self, result: RunResult, sink: EventSink) -> None:
        self.result, self.sink, self.t0 = result, sink, time.perf_counter()

    def lap(self, stage: str, message: str = "done") -> None:
        now = time.perf_counter()
        seconds = self.result.seconds[stage] = now - self.t0
        self.t0 = now
        self.sink(StageDone(stage, message, seconds=seconds))


def run_plan(
    plan: Plan,
    batch: BatchService,
    blobs: BlobStore,
    sink: EventSink,
    options: RunOptions | None = None,
) -> RunResult:
    """Run ``plan`` to the end. Failed tasks are in the result (``succeeded`` False); a
    failing stage raises ``BatchflowError``."""
    opts = options or RunOptions()
    res = RunResult()
    timer = _Timer(res, sink)
    cache = decide(plan, batch, blobs, sink)
    res.up_to_date = len(cache.up_to_date)
    res.steps = steps_json(plan)
    if cache.everything:
        dynamic = any(s.dynamic for s in plan.steps)
        ahead = foresee(plan, batch, blobs, cache) if dynamic else None
        if ahead is not None:  # a workflow's dynamic tasks: all up to date too
            res.up_to_date += ahead.cached
            res.dynamic = ahead.count + ahead.cached
            res.steps = ahead.per_step_json()
        if ahead is not None or not dynamic:
            judged = ahead.cache if ahead is not None and ahead.cache is not None else cache
            res.up_to_date_ids = tuple(judged.up_to_date.values())
            return _nothing_to_do(plan, blobs, sink, opts, res, timer)
    staged = stage_inputs(plan, blobs, sink, opts.workers)
    res.uploaded, res.uploaded_bytes = staged.uploaded, staged.uploaded_bytes
    res.unchanged_inputs = staged.unchanged
    timer.lap("inputs")
    res.pool_created = ensure_pool(
        plan, batch, staged.input_url, sink, opts.poll, opts.pool_timeout_s
    )
    wait_for_nodes(plan, batch, sink, opts.poll, opts.pool_timeout_s)
    timer.lap("pool")
    job = ensure_job(plan, batch, sink, opts.poll, opts.pool_timeout_s)
    timer.lap("job")
    prune_static_gathers(plan, blobs, cache, sink)  # before a gather can start
    grow = _expander(plan, batch, blobs, staged, sink, cache)
    res.tasks_added, res.tasks_existing, res.tasks_changed, res.not_in_spec = add_missing_tasks(
        plan,
        batch,
        staged.input_url,
        staged.output_url,
        sink,
        outputs_read_url=staged.outputs_read_url,
        cached=cache.up_to_date,
        owned=grow.owns if grow else None,
        # what the wildcard tasks that run again left last time is no input of this run
        before_adding=lambda staying: clear_reruns(plan, blobs, staying, cache, sink),
    )
    timer.lap("tasks")
    # The job's tasks, the spec's and those it no longer has: "6 of 5 done" adds up to nothing.
    total = len(plan.tasks) + (plan.job.final_task is not None) + len(res.not_in_spec)
    if grow is not None:
        plan = grow.live_plan()  # what follows sees the dynamic tasks too
    res.counts = watch(
        plan, batch, job, total - res.up_to_date, sink, opts.poll, opts.wait, grow=grow
    )
    if grow is not None:
        res.tasks_added += grow.added
        res.up_to_date += grow.cached
        res.dynamic = grow.count + grow.cached
        res.steps = grow.per_step_json()
    res.up_to_date_ids = tuple(cache.up_to_date.values())  # the expander's found there too
    timer.lap("watch")
    counts = res.counts
    clean = counts is not None and counts.failed == 0 and counts.active == counts.running == 0
    # every task that ran succeeded: collect need not list the job's tasks for their results
    ran = None
    if clean:
        ran = [low for t in all_tasks(plan) if (low := t.id.lower()) not in cache.up_to_date]
    res.collected = collect(plan, batch, blobs, sink, opts.workers, ran)
    missing = (m.task_id for m in res.collected.missing)
    # before cleanup deletes the job's word on it
    record(plan, batch, blobs, cache, missing, all_succeeded=clean)
    timer.lap("collect")
    if opts.keep:
        timer.lap("cleanup", "kept everything (--keep)")
    else:
        res.cleaned, said = cleanup(plan, batch, blobs, _why_failed(res.collected), sink)
        timer.lap("cleanup", said)
    return res


def _nothing_to_do(
    plan: Plan, blobs: BlobStore, sink: EventSink, opts: RunOptions, res: RunResult, timer: _Timer
) -> RunResult:
    """Every task is up to date (``engine.cache``): no pool, no job; the outputs are
    downloaded again only where they are not there already."""
    n = res.up_to_date
    sink(Event("tasks", f"nothing to do: {n} task{'s' if n != 1 else ''} up to date"))
    downloaded, refused = download_outputs(plan, blobs, sink, opts.workers, None)
    res.collected = Collected(tuple(downloaded), tuple(refused), (), (), (), ())
    timer.lap("collect")
    return res


def _expander(
    plan: Plan,
    batch: BatchService,
    blobs: BlobStore,
    staged: StagedInputs,
    sink: EventSink,
    cache: Cache,
) -> Expander | None:
    """The expander of a workflow with dynamic steps (None otherwise), its view of the job
    taken before ``add_missing_tasks`` replaces what changed."""
    if not any(s.dynamic for s in plan.steps):
        return None
    md5s = input_md5s(plan)
    skip = cache.up_to_date  # grows as the expander finds dynamic tasks up to date

    def body(t: TaskPlan) -> Json:
        # As add_missing_tasks: the fingerprint of the whole task, without dependencies on
        # tasks up to date (the job lacks them; their outputs are there already).
        sent = dataclasses.replace(t, depends_on=without(t.depends_on, skip)) if skip else t
        return {
            **task_body(sent, staged.input_url, staged.output_url, staged.outputs_read_url),
            # the cache keyed it as it was made: its fingerprint is known already
            "displayName": cache.keys.fingerprints.get(t.id.lower()) or fingerprint(t, md5s),
        }

    grow = Expander(plan, batch, blobs, body, sink, cache)
    grow.prepare(md5s)
    return grow


def _why_failed(col: Collected) -> str | None:
    """Why the run failed, in a few words, or None when it succeeded."""
    why = []
    if col.failed:
        n = len(col.failed)
        why.append(f"{n} task{'s' if n != 1 else ''} failed")
    if col.missing:
        n = len(col.missing)
        why.append(f"{n} declared output{'s' if n != 1 else ''} matched no file")
    return " and ".join(why) or None
