"""`batchflow plan --json` on a 100,000-task matrix sweep: wall time and peak memory.

Writes a spec with a 100 x 1,000 matrix into a temporary directory, runs the real CLI as a
subprocess with stdout to /dev/null, and prints one JSON object per line: wall seconds and the
child's peak RSS in MB (targets: < 3 s, < 300 MB). Two cases: the matrix as one `tasks:` block,
and a 3-step workflow whose first step is that matrix, the second one task per output of the
first (another 100,000, streamed) and the third a gather of all of them. ``--repeat`` rounds
give each figure's minimum and median; ``--baseline DIR`` times another checkout in the same
rounds (interleaved).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkouts import REPO, cli_env, spread

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


def _case(template: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Plan ``template`` in a child process; its wall time, CPU time and peak RSS (MB)."""
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
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage, not all children's
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("batchflow plan failed")
    # CPU time is less swayed by other load than wall time; ru_maxrss is KiB on Linux
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved")
    parser.add_argument("--baseline", type=Path, help="another checkout, timed the same way")
    args = parser.parse_args()
    trees = {"batchflow": REPO, **({"baseline": args.baseline} if args.baseline else {})}
    cases = {
        "plan_json_100k": (SPEC, ROWS * COLS),
        "plan_json_3_steps_100k": (STEPS_SPEC, 2 * ROWS * COLS + 1),
    }
    with contextlib.ExitStack() as stack:
        envs = {name: stack.enter_context(cli_env(tree)) for name, tree in trees.items()}
        for name, (template, tasks) in cases.items():
            runs: dict[str, list[tuple[float, float, float]]] = {tree: [] for tree in trees}
            for _ in range(args.repeat):
                for tree, env in envs.items():
                    runs[tree].append(_case(template, env))
            line: dict[str, object] = {"bench": name, "tasks": tasks, "rounds": args.repeat}
            for tree, got in runs.items():
                line[tree] = {
                    "wall_s": spread([g[0] for g in got]),
                    "cpu_s": spread([g[1] for g in got]),
                    "peak_rss_mb": spread([g[2] for g in got]),
                }
            if args.baseline:
                line["cpu_batchflow_vs_baseline"] = spread(
                    [a[1] / b[1] for a, b in zip(runs["batchflow"], runs["baseline"], strict=True)]
                )
            line["target"] = {"wall_s": 3.0, "rss_mb": 300}
            print(json.dumps(line))


if __name__ == "__main__":
    main()
