"""What idle job schedules cost: the CPU an emulator burns holding schedules none of which is due.

Starts ``python -m batchflow emulator`` (a real process, from this checkout and, with
``--baseline DIR``, from that one, interleaved), creates ``--schedules`` job schedules through
the real azure-batch SDK whose first run is a year away, lets it settle, then samples the
process's CPU time (user + system, ``/proc/PID/stat``) over ``--seconds``. Prints one JSON
object: CPU as a fraction of one core per round, and the ratio against the baseline.

    python bench/bench_idle_schedules.py [--schedules 2000] [--seconds 10] [--repeat 2]
                                         [--baseline /tmp/base-c9]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checkouts import REPO, cli_env, spread

DEV_ACCOUNT = "devbatch"
_LISTEN = re.compile(r"listening on (http://\S+)")
_KEY = re.compile(r"key:\s+(\S+)")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(repo: Path, data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    # Run from the data's directory: ``-m`` puts the working directory first on sys.path, and
    # from a checkout that would import its batchflow whatever PYTHONPATH names.
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "emulator", "--port", "0", "--data", str(data)],
        cwd=data.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = key = ""
    for line in proc.stdout:
        if (listening := _LISTEN.search(line)) is not None:
            url = listening[1]
        if (found := _KEY.search(line)) is not None:
            key = found[1]
        if url and key:
            return proc, url, key
    raise SystemExit(f"the emulator of {repo} did not start (exit {proc.wait()})")


def _create(url: str, key: str, count: int) -> None:
    client = BatchClient(url, AzureNamedKeyCredential(DEV_ACCOUNT, key))  # type: ignore[arg-type]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)

    def one(i: int) -> None:
        client.create_job_schedule(
            m.BatchJobScheduleCreateOptions(
                id=f"idle-{i}",
                schedule=m.BatchJobScheduleConfiguration(
                    do_not_run_until=later, recurrence_interval=dt.timedelta(days=1)
                ),
                job_specification=m.BatchJobSpecification(
                    pool_info=m.BatchPoolInfo(pool_id="pool")
                ),
            )
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def one_round(repo: Path, schedules: int, seconds: float) -> float:
    """CPU of one idle emulator holding ``schedules`` schedules, as a fraction of a core."""
    with cli_env(repo) as env, tempfile.TemporaryDirectory() as tmp:
        proc, url, key = _start(repo, Path(tmp) / "data", env)
        try:
            _create(url, key, schedules)
            time.sleep(2.0)  # the creations' own work settles
            cpu0, wall0 = _cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            return (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - wall0)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured the same way")
    args = parser.parse_args()
    trees = {"batchflow": REPO, **({"baseline": args.baseline} if args.baseline else {})}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.repeat):
        for name, repo in trees.items():
            cpu[name].append(one_round(repo, args.schedules, args.seconds))
    result: dict[str, object] = {
        "schedules": args.schedules,
        "sample_s": args.seconds,
        "idle_cpu_fraction": {name: [round(v, 4) for v in values] for name, values in cpu.items()},
    }
    if args.baseline:
        pairs = zip(cpu["batchflow"], cpu["baseline"], strict=True)
        result["batchflow_vs_baseline"] = spread([a / max(b, 1e-9) for a, b in pairs])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
