"""An unchanged rerun of a 1,000-task workflow after cleanup deleted its job: wall time and
how many tasks ran (targets: < 2 s, 0 tasks).

Writes a 3-step workflow (500 tasks, one per output of those 500, a gather of them all: 1,001) into
a temporary directory, runs it once on the local target with cleanup deleting job and pool,
then runs it again and prints one JSON object: both runs' wall seconds and what the second
one added and found up to date (from ``run --json``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WIDTH = 500  # 500 + 500 + 1 gather: 1,001 tasks

SPEC = """\
version: 1
name: cachebench
pool: {{vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: {{dedicated: 1}}, slots_per_node: 8}}
download: out/
cleanup: {{job: delete, pool: delete, inputs: delete}}
steps:
  make:
    matrix: {{n: [{ns}]}}
    id: "{{item.n}}"
    command: /bin/sh -c "echo {{item.n}} > {{task.id}}.txt"
    outputs: ["{{task.id}}.txt"]
  double:
    for_each: {{outputs: make}}
    command: /bin/sh -c "cat {{input.name}} {{input.name}} > {{input.stem}}.d"
    outputs: ["{{input.stem}}.d"]
  total:
    inputs: {{from: double}}
    command: /bin/sh -c "cat double/*.d | wc -l > total.txt"
    outputs: [total.txt]
"""


def _run(spec: Path) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "batchflow", "run", "--json", str(spec)],
        cwd=spec.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"batchflow run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "cachebench.yaml"
        spec.write_text(SPEC.format(ns=", ".join(str(i) for i in range(WIDTH))), "utf-8")
        first_s, _ = _run(spec)
        again_s, again = _run(spec)
    tasks = again["tasks"]
    print(
        json.dumps(
            {
                "bench": "unchanged_rerun_after_cleanup",
                "tasks": 2 * WIDTH + 1,
                "first_run_s": round(first_s, 3),
                "rerun_s": round(again_s, 3),
                "rerun_added": tasks["added"],
                "rerun_up_to_date": tasks["up_to_date"],
                "target_rerun_s": 2.0,
            }
        )
    )


if __name__ == "__main__":
    main()
