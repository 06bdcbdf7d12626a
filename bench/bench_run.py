"""Benchmark: how fast the emulator runs tasks, against ``xargs -P`` running the same commands.

Scenarios (each timed from the first task add to the last task completed, through the real
azure-batch SDK and an in-process EmulatorServer):
  * 1,000 ``/bin/true`` tasks on 2 nodes x 1 slot     vs ``xargs -P 2`` (target <= 3x)
  * 200 ``sleep 0.05`` tasks on 2 nodes x 2 slots     vs ``xargs -P 4`` (target <= 1.1x)
plus the scheduler's dispatch latency (event that freed a slot or queued a task -> process
started), p50 and p99. Every task creates its directory, ``wd/``, ``stdout.txt`` and
``stderr.txt`` (as a Batch node does; ``xargs`` creates nothing), so each scenario runs with the
data on the default temporary directory and again on tmpfs. Prints one JSON document.

    python bench/bench_run.py
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
sys.path.insert(0, str(REPO))

from azure.batch import BatchClient  # noqa: E402
from azure.batch import models as m  # noqa: E402
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402

from batchflow.emulator.server import EmulatorServer  # noqa: E402


def cpu_seconds(own: bool) -> float:
    """CPU time used so far by finished child processes (and this process when ``own``)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime + (time.process_time() if own else 0.0)


def xargs_seconds(command: str, count: int, parallel: int) -> tuple[float, float]:
    """Wall and CPU time of ``xargs -P`` running ``command`` ``count`` times."""
    lines = "".join(f"{i}\n" for i in range(count)).encode()
    cpu = cpu_seconds(own=False)
    started = time.perf_counter()
    subprocess.run(
        ["xargs", "-P", str(parallel), "-n", "1", "sh", "-c", f"{command}", "_"],
        input=lines,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started, cpu_seconds(own=False) - cpu


def emulator_seconds(
    client: BatchClient, pool: str, job: str, command: str, count: int
) -> tuple[float, float]:
    """Wall and CPU time from the first add to every task completed. The CPU time is this
    process's (emulator, HTTP server and SDK client together) plus the tasks'."""
    client.create_job(m.BatchJobCreateOptions(id=job, pool_info=m.BatchPoolInfo(pool_id=pool)))
    tasks = [m.BatchTaskCreateOptions(id=f"t{i:05d}", command_line=command) for i in range(count)]
    cpu = cpu_seconds(own=True)
    started = time.perf_counter()
    client.create_tasks(job, tasks, max_concurrency=4)
    while True:
        counts = client.get_job_task_counts(job).task_counts
        if counts.completed == count:
            elapsed = time.perf_counter() - started, cpu_seconds(own=True) - cpu
            break
        time.sleep(0.02)
    if counts.failed:
        raise RuntimeError(f"{counts.failed} tasks failed in {job}")
    return elapsed


def make_pool(client: BatchClient, pool: str, nodes: int, slots: int) -> None:
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=nodes,
            task_slots_per_node=slots,
        )
    )
    while sum(n.state == "idle" for n in client.list_nodes(pool)) < nodes:
        time.sleep(0.01)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Timing = tuple[float, float]  # wall seconds, CPU seconds


def _round(client: BatchClient, n: int) -> tuple[Timing, Timing, Timing, Timing]:
    """One interleaved round: xargs and emulator, for both scenarios."""
    true_xargs = xargs_seconds("/bin/true", 1000, 2)
    true_emu = emulator_seconds(client, "p1", f"true{n}", "/bin/true", 1000)
    sleep_xargs = xargs_seconds("/bin/sleep 0.05", 200, 4)
    sleep_emu = emulator_seconds(client, "p2", f"sleep{n}", "/bin/sleep 0.05", 200)
    return true_emu, true_xargs, sleep_emu, sleep_xargs


def _summary(emu: list[Timing], base: list[Timing], target: float) -> dict[str, object]:
    ratios = [e[0] / b[0] for e, b in zip(emu, base, strict=True)]
    cpu_ratios = [e[1] / b[1] for e, b in zip(emu, base, strict=True)]
    return {
        "emulator_s": [round(x[0], 3) for x in emu],
        "xargs_s": [round(x[0], 3) for x in base],
        "ratios": [round(r, 2) for r in ratios],
        "best_ratio": round(min(ratios), 2),
        "median_ratio": round(statistics.median(ratios), 2),
        "target_ratio": target,
        # CPU seconds are steadier than wall time on a shared machine.
        "emulator_cpu_s": [round(x[1], 3) for x in emu],
        "xargs_cpu_s": [round(x[1], 3) for x in base],
        "cpu_ratios": [round(r, 2) for r in cpu_ratios],
    }


def measure(root: str | None, rounds: int) -> dict[str, object]:
    """Interleaved rounds with the emulator's data (SQLite, node directories) under ``root``."""
    with (
        tempfile.TemporaryDirectory(dir=root) as tmp,
        EmulatorServer(data_dir=Path(tmp), nodes_max=2) as emu,
    ):
        client = BatchClient(
            endpoint=emu.url, credential=AzureNamedKeyCredential(emu.account, emu.key)
        )
        make_pool(client, "p1", nodes=2, slots=1)
        make_pool(client, "p2", nodes=2, slots=2)
        results = [_round(client, n) for n in range(rounds)]
        latencies = emu.service.dispatch_latencies()
    ms = [x * 1000 for x in latencies]
    columns = list(zip(*results, strict=True))
    return {
        "data_dir_root": root or tempfile.gettempdir(),
        "true_1000_on_2x1_vs_xargs_P2": _summary(list(columns[0]), list(columns[1]), 3.0),
        "sleep005_200_on_2x2_vs_xargs_P4": _summary(list(columns[2]), list(columns[3]), 1.1),
        "dispatch_latency_ms": {
            "samples": len(ms),
            "p50": round(statistics.median(ms), 2),
            "p99": round(percentile(ms, 0.99), 2),
        },
    }


def main(rounds: int = 3) -> None:
    """Each task creates its directory, wd/, stdout.txt and stderr.txt as on a Batch node, so
    the file system matters: measured on the default temporary directory (disk) and, when
    present, on tmpfs (/dev/shm). The machine may be shared: ratios compare within a round."""
    roots: list[str | None] = [None]
    if Path("/dev/shm").is_dir():
        roots.append("/dev/shm")
    print(
        json.dumps(
            {
                "cpu_count": os.cpu_count(),
                "load_avg_1m": os.getloadavg()[0],
                "runs": [measure(root, rounds) for root in roots],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
