"""Benchmark: workflows of steps on the local target, through the real CLI (``batchflow run``).

  (a) a 3-step chain, 200 ``sleep 0.05`` tasks per step, on 2 nodes x 2 slots, whole-run wall
      time vs the same work as three ``xargs -P 4`` runs in sequence (goal: ratio <= 1.3; a
      streaming chain may beat it);
  (b) dynamic fan-out: from an upstream task's end (the last thing its command does) to each
      of its downstream tasks starting (the first thing theirs does), p50 and p99; 24 upstream
      tasks ending 0.1 s apart, 3 files each, on 2 nodes x 8 slots (no queueing for slots).
Prints one JSON document.

    python bench/bench_steps.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAD = """version: 1
name: {name}
pool:
  {{vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {{dedicated: 2}}, slots_per_node: {slots}}}
"""
CHAIN = """steps:
  a:
    matrix: {{i: [{items}]}}
    command: /bin/sh -c "sleep 0.05; echo {{item.i}} > {{item.i}}.a"
    outputs: ["{{item.i}}.a"]
  b:
    for_each: {{outputs: a}}
    command: /bin/sh -c "sleep 0.05; cat {{input.name}} > {{input.stem}}.b"
    outputs: ["{{input.stem}}.b"]
  c:
    for_each: {{outputs: b}}
    command: /bin/sh -c "sleep 0.05; cat {{input.name}} > {{input.stem}}.c"
    outputs: ["{{input.stem}}.c"]
"""
FAN = """params: {{log: {log}}}
steps:
  up:
    matrix: {{i: [{items}]}}
    command: >-
      /bin/sh -c "sleep {{item.i}}; for k in 1 2 3; do echo x > p{{index}}-$k; done;
      echo end-{{task.id}}-$(date +%s.%N) >> {{params.log}}"
    outputs: ["p{{index}}-*"]
  down:
    for_each: {{outputs: up}}
    command: /bin/sh -c "echo start-{{task.id}}-$(date +%s.%N) >> {{params.log}}"
"""


def run(directory: Path, spec: str) -> float:
    """Wall time of ``batchflow run`` (the CLI, emulator start included)."""
    (directory / "w.yaml").write_text(spec)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "BATCHFLOW_"))}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "batchflow", "run", "w.yaml"],
        cwd=directory,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def xargs_chain(count: int, steps: int, parallel: int) -> float:
    lines = "".join(f"{i}\n" for i in range(count)).encode()
    started = time.perf_counter()
    for _ in range(steps):
        subprocess.run(
            ["xargs", "-P", str(parallel), "-n", "1", "sh", "-c", "sleep 0.05", "_"],
            input=lines,
            check=True,
        )
    return time.perf_counter() - started


def chain(root: Path) -> dict[str, float]:
    items = ", ".join(str(i) for i in range(200))
    directory = root / "chain"
    directory.mkdir()
    ours = run(directory, HEAD.format(name="chain", slots=2) + CHAIN.format(items=items))
    base = xargs_chain(200, 3, 4)
    return {
        "batchflow_s": round(ours, 3),
        "xargs_s": round(base, 3),
        "ratio": round(ours / base, 3),
    }


def fan_out(root: Path) -> dict[str, float]:
    directory = root / "fan"
    directory.mkdir()
    log = directory / "marks.log"
    items = ", ".join(f"'{i / 10:.1f}'" for i in range(24))  # ending 0.1 s apart
    run(directory, HEAD.format(name="fan", slots=8) + FAN.format(log=log, items=items))
    ends: dict[str, float] = {}
    starts: list[tuple[str, float]] = []
    for line in log.read_text().split():
        kind, rest = line.split("-", 1)
        task, stamp = rest.rsplit("-", 1)
        if kind == "end":
            ends[task.removeprefix("up-")] = float(stamp)
        else:  # down-<up index>-<file index>
            starts.append((task.removeprefix("down-").split("-")[0], float(stamp)))
    lat = sorted(t - ends[up] for up, t in starts)
    q = statistics.quantiles(lat, n=100)
    return {
        "downstream_tasks": len(lat),
        "p50_ms": round(statistics.median(lat) * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "max_ms": round(lat[-1] * 1000, 1),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = {
            "chain_3x200_sleep_4_slots": chain(root),
            "dynamic_fan_out_latency": fan_out(root),
        }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
