"""``batchflow run SPEC``: stage inputs, pool, job, tasks, watch, collect, cleanup."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

from batchflow.commands._common import load_plan, out, out_json, say
from batchflow.engine.tasks import named
from batchflow.errors import BatchflowError, FailedTask, UsageError, WorkflowFailed
from batchflow.plan_model import Plan
from batchflow.redact import redact

if TYPE_CHECKING:
    from batchflow.commands._progress import EventStream
    from batchflow.commands._target import Target
    from batchflow.engine.collect import Collected
    from batchflow.engine.records import TaskRecord
    from batchflow.engine.run import RunResult

SHOWN_MISSING = 20


def _stdout_blocks(result: RunResult) -> None:
    for o in result.collected.outputs if result.collected else ():
        out(f"Task: {o.task_id}\nNode: {o.node_id}\nStandard out:\n{o.stdout}\n")


def describe_failures(tasks: Sequence[FailedTask], spec: str, shown: int = 20) -> str:
    """The failed-task report: id, exit code, category, message and stderr tail of the
    first ``shown`` tasks, then how many more there are and where to see them."""
    lines = []
    for t in tasks[:shown]:
        code = "no exit code" if t.exit_code is None else f"exit code {t.exit_code}"
        lines.append(f"FAILED {t.task_id}: {code}, {t.category}: {t.message}")
        lines.extend(f"    {line}" for line in t.stderr_tail.splitlines())
    if len(tasks) > shown:
        lines.append(
            f"... and {len(tasks) - shown} more failed tasks "
            f"(all of them: batchflow status {spec} --json)"
        )
    return redact("\n".join(lines))


def _interrupted(kind: str, spec: str) -> None:
    if kind == "local":
        say(
            "Stopped. The local emulator stops with this process and its tasks with it: those "
            "that were "
            f"running are requeued and run again when you run `batchflow run {spec}` "
            f"again. To remove everything instead: `batchflow down {spec}`."
        )
    else:
        say(
            "Stopped watching; the job keeps running on Azure Batch. Resume watching with "
            f"`batchflow run {spec}`, check with `batchflow status {spec}`, or delete it all "
            f"with `batchflow down {spec}`."
        )


def run_cmd(
    spec: str,
    overrides: Sequence[str],
    target: str | None,
    storage: str | None,
    as_json: bool,
    keep: bool,
    report: bool = False,
    events: bool = False,
) -> int:
    """Run the spec to the end; 0 when every task succeeded, WorkflowFailed (1) otherwise.
    With ``events``, NDJSON progress on stdout, the summary (``--json``'s) its last line."""
    from batchflow.commands import _record
    from batchflow.commands._progress import EventStream, progress_sink, stdout_line
    from batchflow.commands._target import choose, open_target
    from batchflow.engine.node_watch import NodeWatch
    from batchflow.engine.run import RunOptions, run_plan

    if events and as_json:
        raise UsageError(
            "--events and --json both write to stdout: use one (--events ends with the "
            "summary --json prints)"
        )
    plan = load_plan(spec, overrides)
    t0 = time.monotonic()
    down = _down_command(spec, overrides, target)
    stream = EventStream(stdout_line) if events else None
    session = _record.start(plan, overrides, choose(target, os.environ)[0])
    with _ended(stream), _record.reported(session, report), _record.recording(session):
        with open_target(plan.spec_path, target, storage) as tgt:
            say(tgt.banner)
            _check_target(plan, spec, tgt)
            try:
                with progress_sink(stream) as sink:
                    nodes = NodeWatch(plan, tgt.batch)
                    recorded = nodes.wrap(session.recorder(tgt.batch).wrap(sink))
                    opts = RunOptions(poll=tgt.poll, keep=keep, wait=tgt.wait)
                    result = run_plan(plan, tgt.batch, tgt.blobs, recorded, opts)
            except KeyboardInterrupt:
                _interrupted(tgt.kind, spec)
                if tgt.kind == "azure":  # the local pool stops with this process; Azure's bills
                    for line in _pool_left(plan, tgt, down):
                        say(line)
                raise
            except BatchflowError as exc:
                exc.notes = (*exc.notes, *_pool_left(plan, tgt, down))
                raise
            left = _pool_left(plan, tgt, down)
        session.cleaned = result.cleaned
        session.total = len(plan.tasks) + (plan.job.final_task is not None) + result.dynamic
        session.up_to_date = result.up_to_date
        records = session.observer.recorded.values() if session.observer else ()
        if not as_json:
            _summary(plan, result, spec, records, time.monotonic() - t0, len(nodes.preempted))
        try:
            _report(plan, result, spec, (as_json, stream), tgt.kind, time.monotonic() - t0, records)
        except WorkflowFailed as exc:
            exc.notes = (*exc.notes, *left)
            raise
    for line in left:
        say(line)
    return 0


def _check_target(plan: Plan, spec: str, tgt: Target) -> None:
    """The spec's image, agent and VM size against the target, before any upload."""
    from batchflow.commands import _preflight
    from batchflow.engine.polling import retry_transient

    images = retry_transient(tgt.batch.list_supported_images)
    sizes = _preflight.local_sizes() if tgt.kind == "local" else None
    _preflight.check(plan, spec, images, sizes)


@contextmanager
def _ended(stream: EventStream | None) -> Iterator[None]:
    """With ``--events``: a run that ends before its summary (an error, a failed start
    task, Ctrl-C) says so in a last line."""
    try:
        yield
    except KeyboardInterrupt:
        if stream is not None and not stream.ended:
            stream.emit({"event": "end", "outcome": "interrupted", "exit_code": 130})
        raise
    except BatchflowError as exc:
        if stream is not None and not stream.ended:
            outcome = "failed" if isinstance(exc, WorkflowFailed) else "error"
            end = {"event": "end", "outcome": outcome, "exit_code": exc.exit_code}
            stream.emit({**end, "message": redact(str(exc))})
        raise


def _summary(
    plan: Plan,
    result: RunResult,
    spec: str,
    records: Iterable[TaskRecord],
    seconds: float,
    preempted: int = 0,
) -> None:
    """The end-of-run summary on stderr: a rich table on a terminal, plain lines elsewhere."""
    import sys

    from batchflow.commands._summary import print_rich, summarize, summary_lines

    started = time.strftime("%H:%M:%S", time.localtime(time.time() - seconds))
    blocked = result.collected.blocked if result.collected else ()
    steps = [s.name for s in plan.steps]
    summary = summarize(
        records,
        spec,
        (started, time.strftime("%H:%M:%S"), seconds),
        blocked,
        steps,
        preempted,
        result.up_to_date_ids,
    )
    if sys.stderr.isatty():
        print_rich(summary)
        return
    for line in summary_lines(summary):
        say(line)


def _down_command(spec: str, overrides: Sequence[str], target: str | None) -> str:
    """The command that deletes what this run created, as the user would type it."""
    words = ["batchflow", "down", spec]
    for o in overrides:
        words += ["--set", o]
    if target:
        words += ["--target", target]
    return shlex.join(words)


def _pool_left(plan: Plan, tgt: Target, down: str) -> tuple[str, ...]:
    """A line naming the spec's pool if it is still allocated when the run ends (kept by
    the spec, by ``--keep`` or by a failure): on Azure its nodes cost money until deleted."""
    try:
        pool = tgt.batch.get_pool(plan.pool.id)
    except BatchflowError:
        return ()  # the service failed: the error being reported says so
    if pool is None or pool.state != "active":
        return ()
    # A steady pool holds what it got (a core quota may have given it fewer than asked).
    if pool.allocation_state == "steady":
        n = pool.current_dedicated + pool.current_spot
    else:
        n = pool.target_dedicated + pool.target_spot
    cost = "; Azure bills its nodes until it is deleted" if tgt.kind == "azure" else ""
    return (
        f"Pool {pool.id} is still allocated ({n} node{'s' if n != 1 else ''}{cost}): "
        f"`{down}` deletes it.",
    )


def _failure(plan: Plan, col: Collected, total: int) -> str:
    """The run's failure in one line: failed tasks, those they blocked, missing outputs."""
    parts = []
    if col.failed:
        parts.append(f"{len(col.failed)} of {_tasks(total)} failed")
    if col.blocked:
        parts.append(
            f"{_tasks(len(col.blocked))} never ran, waiting on failed tasks ({named(col.blocked)})"
        )
    if col.missing:
        n = len(col.missing)
        parts.append(f"{n} declared output{'s' if n != 1 else ''} matched no file")
    return "; ".join(parts)


def _tasks(n: int) -> str:
    return f"{n} task" if n == 1 else f"{n} tasks"


def _report(
    plan: Plan,
    result: RunResult,
    spec: str,
    machine: tuple[bool, EventStream | None],
    kind: str,
    seconds: float,
    records: Iterable[TaskRecord] = (),
) -> None:
    """Results on stdout (JSON, the events' last line, or text, with a record per task);
    WorkflowFailed when some task failed or a declared output matched no file."""
    as_json, stream = machine
    if stream is not None or as_json:
        summary = {"target": kind, **result.to_json(), "task_records": [asdict(r) for r in records]}
        if plan.steps:
            from batchflow.commands._summary import blocked_by_step

            blocked = result.collected.blocked if result.collected else ()
            summary["blocked_by_step"] = blocked_by_step(blocked, [s.name for s in plan.steps])
        if stream is not None:
            stream.emit({"event": "summary", **summary})
        else:
            out_json(summary)
    else:
        _stdout_blocks(result)
    collected = result.collected
    if collected and collected.refused:
        say(
            "refused to download outputs that would land outside the download directory: "
            + ", ".join(repr(n) for n in collected.refused)
        )
    # The spec's count, not the job's: a task someone else added is not the spec's.
    total = len(plan.tasks) + (plan.job.final_task is not None) + result.dynamic
    for m in (collected.missing if collected else ())[:SHOWN_MISSING]:
        say(f"task {m.task_id}: output '{m.pattern}' matched no file")
    if collected and len(collected.missing) > SHOWN_MISSING:
        say(f"... and {len(collected.missing) - SHOWN_MISSING} more missing outputs")
    if collected and (collected.failed or collected.missing):
        if collected.failed and not as_json:
            # stdout is the events' alone with --events: the report is for a human then
            (say if stream else out)(describe_failures(collected.failed, spec))
        failed = collected.failed
        raise WorkflowFailed("tasks", _failure(plan, collected, total), failed)
    if not as_json:
        # Tasks the spec no longer has, and any added by someone else while it ran (the
        # up-to-date tasks are the spec's, but not in the job).
        in_job = total - result.up_to_date
        extra = (result.counts.completed if result.counts else in_job) - in_job
        where = f"; outputs in {plan.download_dir}" if plan.download_dir else ""
        also = f" (the job also holds {_tasks(extra)} not in the spec)" if extra > 0 else ""
        what = f"All {total} tasks" if total != 1 else "The task"
        if result.counts is None and result.up_to_date:  # no job was watched: none ran
            say(f"Nothing to do: {_tasks(result.up_to_date)} up to date{where}.")
            return
        cached = (
            f" ({result.up_to_date} of them up to date, not run again)" if result.up_to_date else ""
        )
        say(f"{what} succeeded in {seconds:.1f}s{cached}{where}{also}.")
