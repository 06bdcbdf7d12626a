"""The end-of-run summary on stderr: per step, counts, total and median task time, retries,
the slowest tasks; the failed ones with the command that shows why."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable

from batchflow.engine.records import TaskRecord

SLOWEST = 3


def summary_lines(tasks: Iterable[TaskRecord], spec: str, started: str, ended: str) -> list[str]:
    """Lines of the summary (plain text: it reads the same on a terminal and in a log)."""
    by_step: dict[str, list[TaskRecord]] = defaultdict(list)
    for t in tasks:
        by_step[t.step or "tasks"].append(t)
    lines = [f"{'step':<12} {'ok':>6} {'failed':>6} {'total':>9} {'median':>8} {'retries':>7}"]
    for step, group in by_step.items():
        secs = [t.seconds for t in group if t.seconds is not None]
        ok = sum(1 for t in group if t.result == "success")
        bad = sum(1 for t in group if t.result == "failure")
        median = statistics.median(secs) if secs else 0.0
        retries = sum(t.retries + t.requeues for t in group)
        lines.append(f"{step:<12} {ok:>6} {bad:>6} {sum(secs):>8.1f}s {median:>7.2f}s {retries:>7}")
    timed = sorted(
        (t for g in by_step.values() for t in g if t.seconds), key=lambda t: -(t.seconds or 0)
    )
    if timed:
        lines.append("slowest: " + ", ".join(f"{t.id} ({t.seconds:.1f}s)" for t in timed[:SLOWEST]))
    failed = [t.id for g in by_step.values() for t in g if t.result == "failure"]
    if failed:
        lines.append(f"why {failed[0]} failed: batchflow logs {spec} {failed[0]} --stderr")
    lines.append(f"started {started}, ended {ended}")
    return lines
