"""Benchmark: workflows of steps on the local target, through the real CLI (``batchflow run``).

  (a) a 3-step chain, 200 ``sleep 0.05`` tasks per step, on 2 nodes x 2 slots, whole-run wall
      time vs the same work as three ``xargs -P 4`` runs in sequence (goal: ratio <= 1.3; a
      streaming chain may beat it);
  (b) dynamic fan-out: from an upstream task's end (the last thing its command does) to each
      of its downstream tasks starting (the first thing theirs does), p50 and p99; 24 upstream
      tasks ending 0.1 s apart, 3 files each, on 2 nodes x 16 slots (no queueing for slots);
      and 6 upstream tasks ending 1 s apart (a quiet run between completions: the case a
      poll interval that stretches while nothing changes would delay).
Prints one JSON document: each figure's minimum and median over ``--repeat`` rounds, and with
``--baseline DIR`` the same figures for that checkout, timed in the same rounds (interleaved).

    python bench/bench_steps.py [--repeat 3] [--baseline ../older-checkout] [--chain-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkouts import REPO, cli_env, spread

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
WARM = """tasks:
  matrix: {i: [1, 2]}
  command: /bin/true
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


def run(directory: Path, spec: str, env: dict[str, str]) -> float:
    """Wall time of ``batchflow run`` (the CLI, emulator start included)."""
    directory.mkdir(parents=True)
    (directory / "w.yaml").write_text(spec)
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


def chain(directory: Path, env: dict[str, str]) -> float:
    items = ", ".join(str(i) for i in range(200))
    return run(directory, HEAD.format(name="chain", slots=2) + CHAIN.format(items=items), env)


def fan_out(directory: Path, env: dict[str, str], count: int, gap: float) -> dict[str, float]:
    log = directory / "marks.log"
    items = ", ".join(f"'{i * gap:.1f}'" for i in range(count))  # ending ``gap`` s apart
    run(directory, HEAD.format(name="fan", slots=16) + FAN.format(log=log, items=items), env)
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


def _latencies(rounds: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {key: spread([r[key] for r in rounds]) for key in ("p50_ms", "p99_ms", "max_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved")
    parser.add_argument("--baseline", type=Path, help="another checkout, timed the same way")
    parser.add_argument("--chain-only", action="store_true", help="only (a), the chain")
    args = parser.parse_args()
    trees = {"batchflow": REPO, **({"baseline": args.baseline} if args.baseline else {})}
    chains: dict[str, list[float]] = {name: [] for name in ["xargs", *trees]}
    fans: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    quiet: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        envs = {name: stack.enter_context(cli_env(tree)) for name, tree in trees.items()}
        for name, env in envs.items():  # a first small run fills each bytecode cache
            run(Path(tmp) / f"warm-{name}", HEAD.format(name="w", slots=1) + WARM, env)
        for k in range(args.repeat):
            chains["xargs"].append(xargs_chain(200, 3, 4))
            for name, env in envs.items():
                chains[name].append(chain(Path(tmp) / f"chain-{name}-{k}", env))
                if args.chain_only:
                    continue
                fans[name].append(fan_out(Path(tmp) / f"fan-{name}-{k}", env, 24, 0.1))
                quiet[name].append(fan_out(Path(tmp) / f"quiet-{name}-{k}", env, 6, 1.0))
    result: dict[str, object] = {"rounds": args.repeat}
    for name in trees:
        ratios = [a / b for a, b in zip(chains[name], chains["xargs"], strict=True)]
        figures: dict[str, object] = {
            "chain_3x200_sleep_4_slots": {
                "batchflow_s": spread(chains[name]),
                "ratio_vs_xargs": spread(ratios),
            },
        }
        if not args.chain_only:
            figures["dynamic_fan_out_latency"] = _latencies(fans[name])
            figures["dynamic_fan_out_latency_1s_apart"] = _latencies(quiet[name])
        result[name] = figures
    result["xargs_s"] = spread(chains["xargs"])
    if args.baseline:
        pairs = zip(chains["batchflow"], chains["baseline"], strict=True)
        result["chain_batchflow_vs_baseline"] = spread([a / b for a, b in pairs])
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
