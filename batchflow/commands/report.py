"""``batchflow report SPEC [RUN] [-o FILE]``: a run record as one self-contained HTML page."""

from __future__ import annotations

import time
from pathlib import Path

from batchflow.commands._common import say
from batchflow.engine.records import RunRecord, list_runs
from batchflow.errors import UsageError


def find_run(spec: Path, run_id: str | None) -> RunRecord:
    """The named run (a unique prefix of its id will do), or the newest one."""
    found = list_runs(spec)
    if not found:
        raise UsageError(f"{spec.name} has no recorded runs here: run it first")
    if run_id is None:
        return found[0]
    matches = [r for r in found if r.run_id.startswith(run_id)]
    if len(matches) != 1:
        what = "no run" if not matches else f"{len(matches)} runs"
        raise UsageError(f"{what} of {spec.name} match {run_id!r} (see `batchflow runs {spec}`)")
    return matches[0]


def write_report(rec: RunRecord, output: Path | None) -> Path:
    """Render ``rec`` to ``output`` (default: report.html in the run's directory)."""
    from batchflow.report_html import render

    dest = output or rec.directory / "report.html"
    t0 = time.perf_counter()
    page = render(rec)
    try:
        dest.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the report to {dest}: {exc.strerror}") from None
    took = time.perf_counter() - t0
    say(f"Report of run {rec.run_id}: {dest} ({len(page) / 1e6:.1f} MB, {took:.1f}s)")
    return dest


def report_cmd(spec: str, run_id: str | None, output: str | None) -> int:
    """Write the report of one run of the spec."""
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"{spec}: no such spec file")
    write_report(find_run(path, run_id), Path(output) if output else None)
    return 0
