"""`batchflow plan --json` on a 100,000-task matrix sweep: wall time and peak memory.

Writes a spec with a 100 x 1,000 matrix into a temporary directory, runs the real CLI as a
subprocess with stdout to /dev/null, and prints one JSON object per line: wall seconds and the
child's peak RSS in MB (targets: < 3 s, < 300 MB). Two cases: the matrix as one `tasks:` block,
and a 3-step workflow whose first step is that matrix, the second one task per output of the
first (another 100,000, streamed) and the third a gather of all of them.
"""

from __future__ import annotations

import json
import os
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

STEPS_SPEC = """\
version: 1
name: chain
pool: {{vm_size: standard_d2s_v3, image: ubuntu-22.04, nodes: {{dedicated: 4}}}}
steps:
  sim:
    matrix:
      seed: [{seeds}]
      size: [{sizes}]
    id: "{{item.seed}}-{{item.size}}"
    command: /bin/sh -c "simulate --seed {{item.seed}} --size {{item.size}} > {{task.id}}.txt"
    outputs: ["{{task.id}}.txt"]
  score:
    for_each: {{outputs: sim}}
    command: /bin/sh -c "score {{input.name}} > {{input.stem}}.score"
    outputs: ["{{input.stem}}.score"]
  total:
    inputs: {{from: score}}
    command: /bin/sh -c "cat score/*.score > total.txt"
    outputs: [total.txt]
"""


def _case(name: str, template: str, tasks: int) -> dict[str, object]:
    """Plan ``template`` in a child process; its wall time, CPU time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "sweep.yaml"
        spec.write_text(
            template.format(
                seeds=", ".join(str(i) for i in range(ROWS)),
                sizes=", ".join(f"s{i}" for i in range(COLS)),
            ),
            encoding="utf-8",
        )
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "batchflow", "plan", "--json", str(spec)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage, not all children's
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{name}: batchflow plan failed")
    return {
        "bench": name,
        "tasks": tasks,
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),  # less swayed by other load
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "target_wall_s": 3.0,
        "target_rss_mb": 300,
    }


def main() -> None:
    print(json.dumps(_case("plan_json_100k", SPEC, ROWS * COLS)))
    print(json.dumps(_case("plan_json_3_steps_100k", STEPS_SPEC, 2 * ROWS * COLS + 1)))


if __name__ == "__main__":
    main()
