"""`batchflow plan --json` on a 100,000-task matrix sweep: wall time and peak memory.

Writes a spec with a 100 x 1,000 matrix into a temporary directory, runs the real CLI as a
subprocess with stdout to /dev/null, and prints one JSON object: wall seconds and the child's
peak RSS in MB (targets: < 3 s, < 300 MB).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROWS, COLS = 100, 1000

SPEC = """\
version: 1
name: sweep
params: {{tool: simulate}}
pool: {{vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: {{dedicated: 4}}}}
tasks:
  matrix:
    seed: [{seeds}]
    size: [{sizes}]
  id: "run-{{item.seed}}-{{item.size}}"
  command: /bin/sh -c "{{params.tool}} --seed {{item.seed}} --size {{item.size}} > out.txt"
  environment: {{RUN: "{{task.id}}"}}
  outputs: [{{pattern: out.txt, destination: "{{task.id}}"}}]
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "sweep.yaml"
        spec.write_text(
            SPEC.format(
                seeds=", ".join(str(i) for i in range(ROWS)),
                sizes=", ".join(f"s{i}" for i in range(COLS)),
            ),
            encoding="utf-8",
        )
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "batchflow", "plan", "--json", str(spec)],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = usage.ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "bench": "plan_json_100k",
                "tasks": ROWS * COLS,
                "wall_s": round(wall, 3),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),  # less swayed by other load
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "target_wall_s": 3.0,
                "target_rss_mb": 300,
            }
        )
    )


if __name__ == "__main__":
    main()
