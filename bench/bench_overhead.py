"""Overhead of a whole ``batchflow run`` on the local target against ``xargs -P 4``.

500 tasks of ``sleep 0.05`` on 4 slots (2 nodes x 2 slots), from a fresh directory (nothing
to resume), timed from process start to exit; then the same 500 commands through
``xargs -P 4``. Prints JSON; the target is ratio <= 1.25.

    python bench/bench_overhead.py [--tasks 500] [--sleep 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def spec_text(tasks: int, sleep: float) -> str:
    return f"""version: 1
name: overhead
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  nodes: {{dedicated: 2}}
  slots_per_node: 2
tasks:
  matrix:
    i: [{", ".join(str(i) for i in range(tasks))}]
  id: "s{{index}}"
  command: sleep {sleep}
cleanup: {{job: delete, pool: delete, inputs: delete}}
"""


def _env(pycache: str) -> dict[str, str]:
    """batchflow runs as an installed package would: with Python's bytecode cache (in a
    temporary directory), not compiling its sources on every start as a
    ``PYTHONDONTWRITEBYTECODE`` environment would make it."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONPYCACHEPREFIX": pycache}
    return {
        k: v
        for k, v in env.items()
        if not k.startswith("AZURE_BATCH_") and k != "PYTHONDONTWRITEBYTECODE"
    }


def time_batchflow(tasks: int, sleep: float) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as pycache:
        env = _env(pycache)
        warm = Path(tmp) / "warm" / "overhead.yaml"  # a small run first fills the cache
        warm.parent.mkdir()
        warm.write_text(spec_text(4, 0.0))
        subprocess.run(
            [sys.executable, "-m", "batchflow", "run", str(warm)],
            env=env,
            capture_output=True,
            check=True,
        )
        spec = Path(tmp) / "overhead.yaml"
        spec.write_text(spec_text(tasks, sleep))
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "batchflow", "run", str(spec), "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"batchflow run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        summary = json.loads(proc.stdout)
        assert summary["tasks"]["succeeded"] == tasks, summary
        return elapsed, summary["seconds"]


def time_xargs(tasks: int, sleep: float) -> float:
    lines = "".join(f"{sleep}\n" for _ in range(tasks))
    t0 = time.perf_counter()
    subprocess.run(["xargs", "-P", "4", "-n", "1", "sleep"], input=lines, text=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--sleep", type=float, default=0.05)
    args = parser.parse_args()
    xargs = time_xargs(args.tasks, args.sleep)
    batchflow, stages = time_batchflow(args.tasks, args.sleep)
    print(
        json.dumps(
            {
                "benchmark": "overhead",
                "tasks": args.tasks,
                "sleep_s": args.sleep,
                "slots": 4,
                "batchflow_s": round(batchflow, 3),
                "xargs_s": round(xargs, 3),
                "ratio": round(batchflow / xargs, 3),
                "target_ratio": 1.25,
                "stages_s": stages,
                # start-up (imports, spec, emulator start) and shutdown: all but the stages
                "outside_stages_s": round(batchflow - sum(stages.values()), 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
