"""Benchmark: the emulator's memory with 100,000 completed tasks in one job (target < 200 MB).

The emulator runs as its own process (``python -m batchflow emulator --port N --data DIR``);
the 100,000 tasks are added through the real SDK (``create_tasks``: chunks of 100) and really
run (``/bin/true`` on 2 nodes x 2 slots). The emulator's VmRSS (``/proc/<pid>/status``) is
sampled while they run and read again at the end, after a task-count call and a list page.
Prints one JSON document.

    python bench/bench_memory.py [--tasks 100000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from azure.batch import BatchClient  # noqa: E402
from azure.batch import models as m  # noqa: E402
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(data: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batchflow",
            "emulator",
            "--port",
            str(port),
            "--data",
            str(data),
            "--nodes-max",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    while b"listening" not in proc.stdout.readline():
        if proc.poll() is not None:
            raise RuntimeError("the emulator did not start")
    return proc


def _add_tasks(client: BatchClient, pid: int, tasks: int, peak: float) -> float:
    """Add ``tasks`` /bin/true tasks to job ``mem`` in batches of 10,000; the peak RSS seen."""
    for first in range(0, tasks, 10_000):
        batch = [
            m.BatchTaskCreateOptions(id=f"t{i:06d}", command_line="/bin/true")
            for i in range(first, min(tasks, first + 10_000))
        ]
        client.create_tasks("mem", batch, max_concurrency=4)
        peak = max(peak, rss_mb(pid))
    return peak


def _wait_done(
    client: BatchClient, pid: int, tasks: int, peak: float
) -> tuple[m.BatchTaskCounts, float]:
    """Sample RSS until every task completed: the final task counts and the peak RSS seen."""
    while True:
        counts = client.get_job_task_counts("mem").task_counts
        peak = max(peak, rss_mb(pid))
        if counts.completed >= tasks:
            return counts, peak
        time.sleep(1)


def _reads(client: BatchClient) -> tuple[float, int]:
    """The milliseconds of one task-count call, and how many tasks one list page held."""
    t0 = time.perf_counter()
    client.get_job_task_counts("mem")
    counts_ms = (time.perf_counter() - t0) * 1000
    # One page only: list_tasks iterates every page unless stopped.
    page = itertools.islice(
        client.list_tasks("mem", filter="state eq 'completed'", max_results=1000), 1000
    )
    return counts_ms, len(list(page))


def run(tasks: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_emulator(Path(tmp) / "data", port)
        try:
            client = BatchClient(
                endpoint=f"http://127.0.0.1:{port}",
                credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY),
            )
            idle_rss = rss_mb(proc.pid)
            client.create_pool(
                m.BatchPoolCreateOptions(
                    id="mem",
                    vm_size="standard_d2s_v3",
                    target_dedicated_nodes=2,
                    task_slots_per_node=2,
                )
            )
            client.create_job(
                m.BatchJobCreateOptions(id="mem", pool_info=m.BatchPoolInfo(pool_id="mem"))
            )
            started = time.perf_counter()
            peak = _add_tasks(client, proc.pid, tasks, idle_rss)
            added = time.perf_counter() - started
            counts, peak = _wait_done(client, proc.pid, tasks, peak)
            elapsed = time.perf_counter() - started
            counts_ms, listed = _reads(client)
            final = rss_mb(proc.pid)
            peak = max(peak, final)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "tasks": tasks,
        "completed": counts.completed,
        "succeeded": counts.succeeded,
        "how": "added through the SDK (create_tasks) and really run: /bin/true on "
        "2 nodes x 2 slots",
        "add_seconds": round(added, 1),
        "run_seconds": round(elapsed, 1),
        "task_counts_call_ms": round(counts_ms, 1),
        "listed": listed,
        "rss_mb": {"idle": round(idle_rss, 1), "peak": round(peak, 1), "final": round(final, 1)},
        "target_mb": 200,
        "ok": peak < 200,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    print(json.dumps(run(parser.parse_args().tasks), indent=2))


if __name__ == "__main__":
    main()
