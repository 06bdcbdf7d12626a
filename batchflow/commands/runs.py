"""``batchflow runs SPEC``: the recorded runs of a spec, newest first."""

from __future__ import annotations

from pathlib import Path

from batchflow.commands._common import out, out_json
from batchflow.engine.records import RunRecord, list_runs, parse_time
from batchflow.errors import UsageError


def when(text: str | None) -> str:
    """A recorded UTC time in local time, to the second ("" when unknown)."""
    t = parse_time(text)
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else ""


def elapsed(rec: RunRecord) -> float | None:
    """Seconds from the run's start to its end (None while running or killed)."""
    start, end = parse_time(rec.started), parse_time(rec.ended)
    return (end - start).total_seconds() if start and end else None


def _line(rec: RunRecord) -> str:
    ok = sum(1 for t in rec.tasks.values() if t.result == "success")
    failed = sum(1 for t in rec.tasks.values() if t.result == "failure")
    took = elapsed(rec)
    outcome = rec.outcome if rec.outcome != "running" else "running (or killed)"
    return (
        f"{rec.run_id}  {when(rec.started)}  {outcome:<20} {ok} of {rec.total} succeeded"
        f"{f', {failed} failed' if failed else ''}"
        f"{f', {rec.up_to_date} up to date' if rec.up_to_date else ''}"
        f"{f' in {took:.1f}s' if took is not None else ''}  [{rec.target}]"
    )


def runs_cmd(spec: str, as_json: bool) -> int:
    """List the spec's recorded runs."""
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"{spec}: no such spec file")
    found = list_runs(path)
    if as_json:
        out_json([r.summary() for r in found])
    elif not found:
        out(f"{path.name} has no recorded runs here (they are kept in .batchflow/runs/)")
    else:
        out("\n".join(_line(r) for r in found))
    return 0
