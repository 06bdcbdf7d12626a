"""Benchmark: how soon a run on a new account (no core quota) fails clearly.

Runs ``batchflow run`` on the quickstart example on the local target, its emulator started
with ``BATCHFLOW_EMULATOR_PROFILE=new-account``, and times from the line saying the pool was
created to the run's end (exit 3, the quota error); goal < 5 s. Also the whole command's wall
time (Python start-up and input staging included). Prints one JSON document.

    python bench/bench_quota.py [runs]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def one_run(workdir: Path) -> dict[str, float | int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "BATCHFLOW_"))}
    env["BATCHFLOW_EMULATOR_PROFILE"] = "new-account"
    env["PYTHONPATH"] = str(REPO)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "quickstart.yaml"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    created = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if created is None and "created pool" in line:
            created = time.perf_counter()
    code = proc.wait()
    ended = time.perf_counter()
    if created is None or code != 3:
        raise SystemExit(f"unexpected run: exit {code}, pool created: {created is not None}")
    shutil.rmtree(workdir / ".batchflow")  # the next run creates the pool again
    return {"pool_to_failure_s": ended - created, "command_s": ended - started, "exit": code}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(REPO / "examples" / "quickstart.yaml", work)
        shutil.copytree(REPO / "examples" / "quickstart", work / "quickstart")
        results = [one_run(work) for _ in range(runs)]
    failure = [float(r["pool_to_failure_s"]) for r in results]
    command = [float(r["command_s"]) for r in results]
    print(
        json.dumps(
            {
                "scenario": "new-account profile, quickstart (2 x standard_a1_v2), local target",
                "runs": runs,
                "pool_created_to_failure_s": {
                    "median": round(statistics.median(failure), 3),
                    "max": round(max(failure), 3),
                },
                "command_wall_s": {
                    "median": round(statistics.median(command), 3),
                    "max": round(max(command), 3),
                },
                "goal_s": 5.0,
                "exit_code": 3,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
