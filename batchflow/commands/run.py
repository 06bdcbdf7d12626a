"""``batchflow run SPEC``: stage inputs, pool, job, tasks, watch, collect, cleanup."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from batchflow.commands._common import load_plan, out, out_json, say
from batchflow.engine.redact import redact
from batchflow.errors import FailedTask, UsageError, WorkflowFailed
from batchflow.plan_model import Plan

if TYPE_CHECKING:
    from batchflow.engine.run import RunResult


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


def _check_local_support(plan: Plan, spec: str, target: str | None) -> None:
    """Refuse, before anything starts, what the local emulator cannot do for this spec."""
    from batchflow.commands._target import choose

    kind, _ = choose(target, os.environ)
    if kind == "local" and plan.pool.autoscale_formula:
        raise UsageError(
            f"{spec}: pool.autoscale is not supported on the local target (its emulator runs a "
            "fixed number of nodes): set pool.nodes for local runs, or use --target azure"
        )


def run_cmd(
    spec: str,
    overrides: Sequence[str],
    target: str | None,
    storage: str | None,
    as_json: bool,
    keep: bool,
) -> int:
    """Run the spec to the end; 0 when every task succeeded, WorkflowFailed (1) otherwise."""
    from batchflow.commands._progress import progress_sink
    from batchflow.commands._target import open_target
    from batchflow.engine.run import RunOptions, run_plan

    plan = load_plan(spec, overrides)
    _check_local_support(plan, spec, target)
    t0 = time.monotonic()
    with open_target(plan.spec_path, target, storage) as tgt:
        say(tgt.banner)
        try:
            with progress_sink() as sink:
                result = run_plan(
                    plan, tgt.batch, tgt.blobs, sink, RunOptions(poll=tgt.poll, keep=keep)
                )
        except KeyboardInterrupt:
            _interrupted(tgt.kind, spec)
            raise
    _report(plan, result, spec, as_json, tgt.kind, time.monotonic() - t0)
    return 0


def _report(
    plan: Plan, result: RunResult, spec: str, as_json: bool, kind: str, seconds: float
) -> None:
    """Results on stdout (JSON or text); WorkflowFailed when some task failed."""
    if as_json:
        out_json({"target": kind, **result.to_json()})
    else:
        _stdout_blocks(result)
    collected = result.collected
    if collected and collected.refused:
        say(
            "refused to download outputs that would land outside the download directory: "
            + ", ".join(repr(n) for n in collected.refused)
        )
    failed = collected.failed if collected else ()
    if failed:
        if not as_json:
            out(describe_failures(failed, spec))
        total = len(plan.tasks)
        raise WorkflowFailed("tasks", f"{len(failed)} of {total} tasks failed", failed)
    if not as_json:
        # The spec's count, not the job's: a task someone else added is not the spec's.
        total = len(plan.tasks) + (plan.job.final_task is not None)
        extra = (result.counts.completed if result.counts else total) - total
        where = f"; outputs in {plan.download_dir}" if plan.download_dir else ""
        also = f" (the job also holds {extra} tasks not in the spec)" if extra > 0 else ""
        say(f"All {total} tasks succeeded in {seconds:.1f}s{where}{also}.")
