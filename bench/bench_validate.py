"""Cold-start cost of `batchflow validate` against the floor: importing its three libraries.

Runs `python -m batchflow validate examples/ffmpeg.yaml` and `python -c "import yaml,
jsonschema, click"` as fresh subprocesses, alternately, REPEAT times each; prints one JSON object
with both medians (seconds) and their ratio (target: <= 1.3).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPEAT = 21


def _env(pycache: str) -> dict[str, str]:
    """Both commands run as an installed package would: with Python's bytecode cache.

    (A ``PYTHONDONTWRITEBYTECODE`` environment would make only batchflow pay for compiling its
    sources on every start, while the libraries' caches were written by pip.) The cache lives in
    a temporary directory; Python checks it against each source's mtime, so it cannot go stale.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _run(args: list[str], env: dict[str, str], cpu: list[float] | None = None) -> float:
    """Wall seconds of one run; its CPU seconds (user + system) appended to ``cpu``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def main() -> None:
    validate = [sys.executable, "-m", "batchflow", "validate", "examples/ffmpeg.yaml"]
    floor = [sys.executable, "-c", "import yaml, jsonschema, click"]
    times: dict[str, list[float]] = {"validate": [], "imports": []}
    cpu: dict[str, list[float]] = {"validate": [], "imports": []}
    with tempfile.TemporaryDirectory() as pycache:
        env = _env(pycache)
        _run(validate, env), _run(floor, env)  # warm the caches; not counted
        for _ in range(REPEAT):
            times["validate"].append(_run(validate, env, cpu["validate"]))
            times["imports"].append(_run(floor, env, cpu["imports"]))
    # For the record: batchflow's own sources compiled on every start (no bytecode cache).
    bare = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    bare.pop("PYTHONPYCACHEPREFIX", None)
    uncached = statistics.median(_run(validate, bare) for _ in range(REPEAT // 2))
    v, i = statistics.median(times["validate"]), statistics.median(times["imports"])
    print(
        json.dumps(
            {
                "bench": "validate_cold",
                "repeat": REPEAT,
                "validate_median_s": round(v, 4),
                "imports_median_s": round(i, 4),
                "ratio": round(v / i, 3),
                # CPU time is less swayed than wall time by other work on the machine.
                "cpu_ratio": round(
                    statistics.median(cpu["validate"]) / statistics.median(cpu["imports"]), 3
                ),
                "validate_without_bytecode_cache_s": round(uncached, 4),
                "target_ratio": 1.3,
            }
        )
    )


if __name__ == "__main__":
    main()
