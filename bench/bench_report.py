"""The report of a 10,000-task run: generation time, file size (goal < 5 MB) and Chromium's
load-to-render time (goal < 2 s); and what run records cost a run (goal < 5% of the wall time
of bench_overhead's 500 x ``sleep 0.05``), as the recorder measures itself.

    python bench/bench_report.py [--tasks 10000] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_overhead import spec_text  # noqa: E402
from chromium_load import load  # noqa: E402

from batchflow.engine.records import RecordWriter, TaskRecord, read_record  # noqa: E402
from batchflow.report_html import render  # noqa: E402


def synthetic_record(root: Path, tasks: int, nodes: int = 50, slots: int = 4) -> Path:
    """A record of ``tasks`` tasks in three steps over ``nodes`` x ``slots``, 2% failed."""
    rng = random.Random(7)
    w = RecordWriter(root / "run")
    t0 = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
    w.write(
        "start",
        spec="big.yaml",
        job="big-job",
        target="local",
        total=tasks,
        started=t0.isoformat(),
        steps=["prep", "work", "merge"],
    )
    free = [[t0] * slots for _ in range(nodes)]
    for i in range(tasks):
        n = i % nodes
        s = min(range(slots), key=lambda k: free[n][k])
        start = free[n][s]
        end = start + _dt.timedelta(seconds=rng.lognormvariate(3, 0.5))
        free[n][s] = end
        failed = rng.random() < 0.02
        step = "prep" if i < tasks // 4 else "merge" if i > tasks * 0.95 else "work"
        w.task(
            TaskRecord(
                f"{step}-{i}",
                step,
                "completed",
                "failure" if failed else "success",
                1 if failed else 0,
                node=f"node-{n:03d}",
                start=start.isoformat(),
                end=end.isoformat(),
                category="usererror" if failed else "",
            )
        )
    for stage in ("inputs", "pool", "job", "tasks", "watch", "collect", "cleanup"):
        w.write("stage", stage=stage, seconds=1.0)
    w.write("end", ended=max(max(f) for f in free).isoformat(), outcome="failed")
    w.close()
    return root / "run"


def report_figures(tasks: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        rec = read_record(synthetic_record(Path(tmp), tasks))
        t0 = time.perf_counter()
        page = render(rec)
        generation = time.perf_counter() - t0
        path = Path(tmp) / "report.html"
        path.write_text(page, encoding="utf-8")
        loaded = load(path)
        return {
            "tasks": tasks,
            "generation_s": round(generation, 3),
            "size_mb": round(len(page.encode()) / 1e6, 2),
            "size_goal_mb": 5,
            "chromium_render_ms": loaded.rendered_ms,
            "chromium_wall_s": round(loaded.wall_s, 2),
            "render_goal_s": 2,
            "console_errors": loaded.errors,
        }


def overhead_figures() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "overhead.yaml"
        spec.write_text(spec_text(500, 0.05))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_BATCH_")}
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "batchflow", "run", str(spec), "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        wall = time.perf_counter() - t0
        (run_dir,) = (Path(tmp) / ".batchflow" / "runs").iterdir()
        end = [json.loads(x) for x in (run_dir / "record.jsonl").read_text().splitlines()][-1]
        return {
            "run_s": round(wall, 3),
            "recorder_s": end["recorder_s"],
            "share": round(end["recorder_s"] / wall, 4),
            "goal_share": 0.05,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    result: dict[str, object] = {"benchmark": "report", "report": report_figures(args.tasks)}
    if not args.skip_overhead:
        result["run_records"] = overhead_figures()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
