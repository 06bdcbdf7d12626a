"""API calls per poll of the watch stage, for 100 and for 10,000 tasks.

For each size: a job on the emulator gets N tasks (on a pool without nodes, so they stay
active and the watch keeps polling), then the engine's ``watch`` runs for a fixed number of
polls. The emulator's request counters, read before and after, give the calls made during
the watch, per operation. The claim: the same calls per poll whatever N (one
Job_GetTaskCounts). Prints JSON.

    python bench/bench_watch.py [--polls 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from batchflow.azure.connect import batch_service  # noqa: E402
from batchflow.emulator.server import EmulatorServer  # noqa: E402
from batchflow.engine.events import Event, WatchProgress  # noqa: E402
from batchflow.engine.polling import PollPolicy  # noqa: E402
from batchflow.engine.tasks import add_missing_tasks  # noqa: E402
from batchflow.engine.watch import watch  # noqa: E402
from batchflow.plan_model import (  # noqa: E402
    CleanupPlan,
    ImageRef,
    JobPlan,
    Plan,
    PoolPlan,
    TaskPlan,
)


class _Enough(Exception):
    """Raised by the sink once the wanted number of polls is reached."""


def _plan(root: Path, n: int) -> Plan:
    image = ImageRef(
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts",
        "latest",
        "batch.node.ubuntu 22.04",
    )
    pool = PoolPlan(
        id=f"w{n}-pool",
        vm_size="standard_a1_v2",
        image=image,
        dedicated=0,
        spot=0,
        slots_per_node=1,
        start_task=None,
    )
    return Plan(
        name=f"w{n}",
        spec_path=root / "w.yaml",
        input_container="i",
        output_container="o",
        uploads=[],
        pool=pool,
        job=JobPlan(id=f"w{n}-job", pool_id=pool.id, uses_dependencies=False, timeout_s=None),
        tasks=[TaskPlan(id=f"t{i}", command="true") for i in range(n)],
        download_dir=None,
        print_stdout=False,
        cleanup=CleanupPlan(job=False, pool=False, inputs=False),
    )


def measure(server: EmulatorServer, n: int, polls: int) -> dict[str, object]:
    batch = batch_service(server.url, server.account, server.key, fast=True)
    plan = _plan(server.data_dir, n)
    batch.create_job({"id": plan.job.id, "poolInfo": {"poolId": plan.pool.id}})
    t0 = time.perf_counter()
    add_missing_tasks(plan, batch, "file:///i", "file:///o", lambda e: None)
    add_s = time.perf_counter() - t0
    job = batch.get_job(plan.job.id)
    assert job is not None
    seen = 0

    def sink(event: Event) -> None:
        nonlocal seen
        if isinstance(event, WatchProgress):
            seen += 1
            if seen >= polls:
                raise _Enough

    before = server.control.counters()
    t0 = time.perf_counter()
    with contextlib.suppress(_Enough):
        watch(plan, batch, job, n, sink, PollPolicy(initial=0.01, maximum=0.01))
    watch_s = time.perf_counter() - t0
    after = server.control.counters()
    batch.close()
    during = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    during = {k: v for k, v in during.items() if v}
    total = sum(during.values())
    return {
        "tasks": n,
        "polls": seen,
        "calls_during_watch": during,
        "calls_per_poll": round(total / seen, 3),
        "seconds_per_poll": round(watch_s / seen, 4),
        "add_tasks_s": round(add_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorServer(data_dir=Path(tmp), nodes_max=1) as server,
    ):
        results = [measure(server, n, args.polls) for n in (100, 10_000)]
    print(
        json.dumps(
            {
                "benchmark": "watch",
                "results": results,
                "same_calls_per_poll": results[0]["calls_per_poll"] == results[1]["calls_per_poll"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
