"""How fast the emulator accepts tasks: 10,000 through azure-batch 15.x ``create_tasks``
(``max_concurrency=4``, chunks of 100 over ``addtaskcollection``), target >= 2,000 tasks/s.

The baseline, measured in the same run, is the same SDK call against a trivial Starlette
endpoint on the same uvicorn setup that only parses the chunk and answers success for every
task: the ceiling that the SDK's serialization and HTTP impose whatever the server does.
Usage: python bench/bench_accept.py [TASKS [ROUNDS]]. Prints one JSON object (medians).
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.server import EmulatorServer

TASKS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
CONCURRENCY = 4


def _tasks(prefix: str) -> list[m.BatchTaskCreateOptions]:
    return [
        m.BatchTaskCreateOptions(
            id=f"{prefix}{i:05d}",
            command_line=f"/bin/sh -c 'echo task {i}'",
            environment_settings=[m.EnvironmentSetting(name="INDEX", value=str(i))],
            constraints=m.BatchTaskConstraints(max_task_retry_count=2),
        )
        for i in range(TASKS)
    ]


def _timed_create(client: BatchClient, job_id: str, prefix: str) -> float:
    tasks = _tasks(prefix)
    start = time.perf_counter()
    result = client.create_tasks(job_id, tasks, max_concurrency=CONCURRENCY)
    seconds = time.perf_counter() - start
    ok = sum(1 for r in result.result_values if r.status == "success")
    if ok != TASKS:
        raise SystemExit(f"only {ok} of {TASKS} tasks were accepted")
    return seconds


async def _accept_all(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    return JSONResponse(
        {
            "value": [
                {
                    "status": "success",
                    "taskId": t["id"],
                    "eTag": "0x1",
                    "lastModified": "2025-01-01T00:00:00.0000000Z",
                }
                for t in body["value"]
            ]
        }
    )


def _baseline() -> float:
    app = Starlette(routes=[Route("/jobs/{job}/addtaskcollection", _accept_all, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        client = BatchClient(url, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
        return _timed_create(client, "j", "b")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _emulator() -> tuple[float, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer(data_dir=Path(tmp) / "emu") as emu:
        client = BatchClient(emu.url, AzureNamedKeyCredential(emu.account, emu.key))
        # A pool with no node: the tasks are accepted and stay active, nothing runs.
        client.create_pool(
            m.BatchPoolCreateOptions(
                id="bench", vm_size="standard_d2s_v3", target_dedicated_nodes=0
            )
        )
        client.create_job(
            m.BatchJobCreateOptions(id="bench", pool_info=m.BatchPoolInfo(pool_id="bench"))
        )
        seconds = _timed_create(client, "bench", "t")
        counts = client.get_job_task_counts("bench").task_counts
        if counts.active != TASKS:
            raise SystemExit(f"the job holds {counts.active} active tasks, not {TASKS}")
        return seconds, emu.control.counters()


def main() -> None:
    # Rounds alternate baseline and emulator, so a machine busy with something else slows
    # both alike; the medians are reported.
    baselines: list[float] = []
    runs: list[float] = []
    calls = 0
    for _ in range(ROUNDS):
        baselines.append(_baseline())
        seconds, counters = _emulator()
        runs.append(seconds)
        calls = counters.get("Task_AddCollection", 0)
    seconds, baseline = statistics.median(runs), statistics.median(baselines)
    print(
        json.dumps(
            {
                "tasks": TASKS,
                "max_concurrency": CONCURRENCY,
                "rounds": ROUNDS,
                "seconds": round(seconds, 3),
                "tasks_per_s": round(TASKS / seconds),
                "addtaskcollection_calls": calls,
                "baseline_seconds": round(baseline, 3),
                "baseline_tasks_per_s": round(TASKS / baseline),
                "emulator_vs_baseline": round(baseline / seconds, 2),
                "all_tasks_per_s": [round(TASKS / s) for s in runs],
                "all_baseline_tasks_per_s": [round(TASKS / s) for s in baselines],
            }
        )
    )


if __name__ == "__main__":
    main()
