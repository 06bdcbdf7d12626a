"""Overhead of a whole ``batchflow run`` on the local target against ``xargs -P 4``.

500 tasks of ``sleep 0.05`` on 4 slots (2 nodes x 2 slots), from a fresh directory (nothing
to resume), timed from process start to exit; then the same 500 commands through
``xargs -P 4`` and GNU ``parallel -j 4`` (where installed). Prints JSON (minimum and median
over ``--repeat`` interleaved rounds, and with ``--baseline DIR`` the same for that checkout);
the target is ratio <= 1.25.

    python bench/bench_overhead.py [--tasks 500] [--sleep 0.05] [--repeat 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkouts import REPO, cli_env, spread


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


def time_batchflow(tasks: int, sleep: float, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
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


def warm(env: dict[str, str]) -> None:
    """A small run first fills the checkout's bytecode cache."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "overhead.yaml"
        spec.write_text(spec_text(4, 0.0))
        subprocess.run(
            [sys.executable, "-m", "batchflow", "run", str(spec)],
            env=env,
            capture_output=True,
            check=True,
        )


def time_xargs(tasks: int, sleep: float) -> float:
    lines = "".join(f"{sleep}\n" for _ in range(tasks))
    t0 = time.perf_counter()
    subprocess.run(["xargs", "-P", "4", "-n", "1", "sleep"], input=lines, text=True, check=True)
    return time.perf_counter() - t0


def time_parallel(tasks: int, sleep: float) -> float | None:
    """GNU parallel, 4 jobs, the same commands; None where it is not installed."""
    if shutil.which("parallel") is None:
        return None
    lines = "".join(f"{sleep}\n" for _ in range(tasks))
    t0 = time.perf_counter()
    subprocess.run(
        ["parallel", "--will-cite", "-j", "4", "sleep"],
        input=lines,
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved")
    parser.add_argument("--baseline", type=Path, help="another checkout, timed the same way")
    args = parser.parse_args()
    trees = {"batchflow": REPO, **({"baseline": args.baseline} if args.baseline else {})}
    walls: dict[str, list[float]] = {name: [] for name in ["xargs", "parallel", *trees]}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with contextlib.ExitStack() as stack:
        envs = {name: stack.enter_context(cli_env(tree)) for name, tree in trees.items()}
        for env in envs.values():
            warm(env)
        for _ in range(args.repeat):
            walls["xargs"].append(time_xargs(args.tasks, args.sleep))
            gnu = time_parallel(args.tasks, args.sleep)
            if gnu is not None:
                walls["parallel"].append(gnu)
            for name, env in envs.items():
                wall, seconds = time_batchflow(args.tasks, args.sleep, env)
                walls[name].append(wall)
                stages[name].append(seconds)
    result: dict[str, object] = {
        "benchmark": "overhead",
        "tasks": args.tasks,
        "sleep_s": args.sleep,
        "slots": 4,
        "rounds": args.repeat,
        "target_ratio": 1.25,
        "xargs_s": spread(walls["xargs"]),
        **({"parallel_s": spread(walls["parallel"])} if walls["parallel"] else {}),
    }
    for name in trees:
        outside = [w - sum(s.values()) for w, s in zip(walls[name], stages[name], strict=True)]
        result[name] = {
            "wall_s": spread(walls[name]),
            "ratio_vs_xargs": spread(
                [a / b for a, b in zip(walls[name], walls["xargs"], strict=True)]
            ),
            **(
                {
                    "ratio_vs_parallel": spread(
                        [a / b for a, b in zip(walls[name], walls["parallel"], strict=True)]
                    )
                }
                if walls["parallel"]
                else {}
            ),
            # start-up (imports, spec, emulator start) and shutdown: all but the stages
            "outside_stages_s": spread(outside),
            "watch_s": spread([s["watch"] for s in stages[name]]),
        }
    if args.baseline:
        pairs = zip(walls["batchflow"], walls["baseline"], strict=True)
        result["batchflow_vs_baseline"] = spread([a / b for a, b in pairs])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
