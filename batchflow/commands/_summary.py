"""The end-of-run summary on stderr: per step, counts, total and median task time, retries,
the slowest tasks; the failed and the blocked ones by name with the command to run next. A
rich table on a terminal, plain lines elsewhere (a log, CI)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from batchflow.engine.recorder import step_of
from batchflow.engine.records import TaskRecord
from batchflow.engine.tasks import named

SLOWEST = 3
NO_STEP = "tasks"  # the row of a spec without steps (and of tasks outside every step)


@dataclass(frozen=True)
class StepRow:
    """One step's line of the summary."""

    name: str
    ok: int
    failed: int
    blocked: int
    cached: int  # up to date from an earlier run: not run
    total_s: float
    median_s: float
    retries: int
    slowest: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Summary:
    """What the end of a run tells: the rows, the tasks to look at, when it ran."""

    spec: str
    rows: tuple[StepRow, ...]
    slowest: tuple[tuple[str, float], ...]
    failed: tuple[str, ...]
    blocked: tuple[str, ...]
    started: str
    ended: str
    elapsed_s: float
    # A workflow's blocked tasks, step by step (in the spec's order); empty without steps.
    blocked_by_step: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Tasks run again because their node was preempted or lost (or a local run stopped with
    # them running: its emulator's nodes went with it), and the spot nodes seen
    # preempted: neither is a retry, so the retries column leaves them out.
    requeued: tuple[str, ...] = ()
    preempted_nodes: int = 0


def summarize(
    tasks: Iterable[TaskRecord],
    spec: str,
    when: tuple[str, str, float],
    blocked: Sequence[str] = (),
    steps: Sequence[str] = (),
    preempted_nodes: int = 0,
    up_to_date: Sequence[str] = (),
) -> Summary:
    """The summary of the recorded ``tasks`` and the ``blocked`` ones (which never ran, so
    have no record), and the ids ``up_to_date`` (not run); ``steps`` in the spec's order;
    ``when``: started, ended, seconds."""
    by_step: dict[str, list[TaskRecord]] = {s: [] for s in steps}
    by_step = defaultdict(list, by_step)
    for t in tasks:
        by_step[t.step or NO_STEP].append(t)
    names = frozenset(steps)
    stuck: dict[str, int] = defaultdict(int)
    for i in blocked:
        stuck[step_of(i, names) or NO_STEP] += 1
    cached: dict[str, int] = defaultdict(int)
    for i in up_to_date:
        cached[step_of(i, names) or NO_STEP] += 1
    rows = tuple(
        _row(name, by_step[name], stuck[name], cached[name]) for name in [*by_step, *stuck, *cached]
    )
    rows = tuple({r.name: r for r in rows}.values())  # a blocked-only row once
    timed = sorted(
        ((t.id, t.seconds or 0.0) for g in by_step.values() for t in g if t.seconds),
        key=lambda p: -p[1],
    )
    failed = tuple(t.id for g in by_step.values() for t in g if t.result == "failure")
    per_step = tuple((s, tuple(ids)) for s, ids in blocked_by_step(blocked, steps).items())
    requeued = tuple(t.id for g in by_step.values() for t in g if t.requeues)
    return Summary(
        spec,
        rows,
        tuple(timed[:SLOWEST]),
        failed,
        tuple(blocked),
        *when,
        blocked_by_step=per_step,
        requeued=requeued,
        preempted_nodes=preempted_nodes,
    )


def blocked_by_step(blocked: Iterable[str], steps: Sequence[str]) -> dict[str, list[str]]:
    """The ``blocked`` task ids by step, in the steps' order (empty without steps)."""
    if not steps:
        return {}
    by_step: dict[str, list[str]] = {s: [] for s in steps}
    names = frozenset(steps)
    for i in blocked:
        by_step.setdefault(step_of(i, names) or NO_STEP, []).append(i)
    return {s: ids for s, ids in by_step.items() if ids}


def _row(name: str, group: list[TaskRecord], blocked: int, cached: int) -> StepRow:
    secs = [t.seconds for t in group if t.seconds is not None]
    slow = sorted(((t.id, t.seconds) for t in group if t.seconds), key=lambda p: -p[1])
    return StepRow(
        name,
        ok=sum(1 for t in group if t.result == "success"),
        failed=sum(1 for t in group if t.result == "failure"),
        blocked=blocked,
        cached=cached,
        total_s=sum(secs),
        median_s=statistics.median(secs) if secs else 0.0,
        retries=sum(t.retries for t in group),
        slowest=tuple(slow[:SLOWEST]),
    )


def next_steps(s: Summary) -> list[str]:
    """The failed and blocked tasks by name, each with the command to run next."""
    lines = []
    if s.requeued or s.preempted_nodes:
        lines.append(requeued_text(s))
    if s.failed:
        lines.append(f"failed: {named(s.failed)}")
        lines.append(f"why {s.failed[0]} failed: batchflow logs {s.spec} {s.failed[0]} --stderr")
    if s.blocked:
        lines.append(f"blocked (never ran, waiting on failed tasks): {named(s.blocked)}")
        lines.extend(f"  in step {step}: {named(ids)}" for step, ids in s.blocked_by_step)
        lines.append(f"once the failed tasks are fixed, `batchflow run {s.spec}` runs them")
    return lines


def requeued_text(s: Summary) -> str:
    """How many spot nodes were preempted and which tasks were requeued (not retries)."""
    parts = []
    if s.preempted_nodes:
        nodes = "1 spot node" if s.preempted_nodes == 1 else f"{s.preempted_nodes} spot nodes"
        parts.append(f"preempted: {nodes}")
    if s.requeued:
        tasks = "1 task" if len(s.requeued) == 1 else f"{len(s.requeued)} tasks"
        parts.append(
            f"requeued: {tasks} ({named(s.requeued)}), run again after their node was "
            "preempted or lost, or the run before was stopped (requeues are not retries)"
        )
    return "; ".join(parts)


def summary_lines(s: Summary) -> list[str]:
    """Plain text: it reads the same in a log."""
    head = f"{'step':<12} {'ok':>6} {'failed':>6} {'blocked':>7} {'cached':>6} {'total':>9}"
    lines = [f"{head} {'median':>8} {'retries':>7}"]
    for r in s.rows:
        lines.append(
            f"{r.name:<12} {r.ok:>6} {r.failed:>6} {r.blocked:>7} {r.cached:>6} "
            f"{r.total_s:>8.1f}s {r.median_s:>7.2f}s {r.retries:>7}"
        )
    if s.slowest:
        lines.append("slowest: " + ", ".join(f"{i} ({t:.1f}s)" for i, t in s.slowest))
    lines.extend(next_steps(s))
    lines.append(f"started {s.started}, ended {s.ended} ({s.elapsed_s:.1f}s)")
    return lines


def print_rich(s: Summary) -> None:
    """A table on the terminal (stderr), then the tasks to look at."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Run summary", title_justify="left")
    table.add_column("step")
    for name in ("ok", "failed", "blocked", "cached", "total", "median", "retries"):
        table.add_column(name, justify="right")
    table.add_column("slowest")
    for r in s.rows:
        table.add_row(
            Text(r.name),
            Text(str(r.ok), style="green" if r.ok else ""),
            Text(str(r.failed), style="red" if r.failed else ""),
            Text(str(r.blocked), style="yellow" if r.blocked else ""),
            str(r.cached),
            f"{r.total_s:.1f}s",
            f"{r.median_s:.2f}s",
            str(r.retries),
            Text(", ".join(f"{i} ({t:.1f}s)" for i, t in r.slowest)),
        )
    console = Console(stderr=True, highlight=False)
    console.print(table)
    for line in next_steps(s):
        console.print(Text(line))
    console.print(Text(f"started {s.started}, ended {s.ended} ({s.elapsed_s:.1f}s)"))
