"""An unchanged rerun of a 1,000-task workflow after cleanup deleted its job: wall time and
how many tasks ran (targets: < 2 s, 0 tasks).

Writes a 3-step workflow (500 tasks, one per output of those 500, a gather of them all: 1,001) into
a temporary directory, runs it once on the local target with cleanup deleting job and pool,
then runs it again and prints one JSON object: both runs' wall seconds and what the second
one added and found up to date (from ``run --json``). ``--repeat`` rounds give minimum and
median; ``--baseline DIR`` times another checkout in the same rounds (interleaved).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from checkouts import REPO, cli_env, spread

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


def _run(spec: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "batchflow", "run", "--json", str(spec)],
        cwd=spec.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"batchflow run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def _case(env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "cachebench.yaml"
        spec.write_text(SPEC.format(ns=", ".join(str(i) for i in range(WIDTH))), "utf-8")
        first_s, _ = _run(spec, env)
        again_s, again = _run(spec, env)
    return first_s, again_s, again["tasks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved")
    parser.add_argument("--baseline", type=Path, help="another checkout, timed the same way")
    args = parser.parse_args()
    trees = {"batchflow": REPO, **({"baseline": args.baseline} if args.baseline else {})}
    runs: dict[str, list[tuple[float, float, dict[str, Any]]]] = {name: [] for name in trees}
    with contextlib.ExitStack() as stack:
        envs = {name: stack.enter_context(cli_env(tree)) for name, tree in trees.items()}
        for _ in range(args.repeat):
            for name, env in envs.items():
                runs[name].append(_case(env))
    result: dict[str, object] = {
        "bench": "unchanged_rerun_after_cleanup",
        "tasks": 2 * WIDTH + 1,
        "rounds": args.repeat,
        "target_rerun_s": 2.0,
    }
    for name, got in runs.items():
        result[name] = {
            "first_run_s": spread([g[0] for g in got]),
            "rerun_s": spread([g[1] for g in got]),
            "rerun_added": [g[2]["added"] for g in got],
            "rerun_up_to_date": [g[2]["up_to_date"] for g in got],
        }
    if args.baseline:
        pairs = zip(runs["batchflow"], runs["baseline"], strict=True)
        result["rerun_batchflow_vs_baseline"] = spread([a[1] / b[1] for a, b in pairs])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
