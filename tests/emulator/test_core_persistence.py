"""The store is the truth: a restarted emulator keeps pools, jobs and outcomes, requeues what was
running, and a kill -9 leaves no task process behind once the emulator starts again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.server import EmulatorServer
from tests.conftest import REPO, free_port
from tests.emulator.core_helpers import (
    add,
    alive,
    completed,
    file_text,
    info,
    make_job,
    make_pool,
    state_is,
    wait_for,
)


def _client(url: str) -> BatchClient:
    return BatchClient(endpoint=url, credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))


def test_restart_keeps_outcomes_and_requeues_running_tasks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    marker = tmp_path / "ran-once"
    with EmulatorServer(data_dir=data, nodes_max=2) as first:
        client = _client(first.url)
        make_pool(client, "pool", nodes=1)
        make_job(client, "job", "pool")
        add(client, "job", "done", "/bin/sh -c 'exit 4'")
        completed(client, "job", "done")
        add(
            client,
            "job",
            "slow",
            f"/bin/sh -c 'echo $$ > pid; test -f {marker} && exit 0; touch {marker}; sleep 30'",
        )
        state_is(client, "job", "slow", "running")
        pid = int(wait_for("pid", lambda: file_text(client, "job", "slow", "wd/pid")))
        wait_for("the first run to be under way", marker.exists)
    assert not alive(pid)
    with EmulatorServer(data_dir=data, nodes_max=2) as second:
        client = _client(second.url)
        assert client.get_pool("pool").current_dedicated_nodes == 1
        done = client.get_task("job", "done")
        assert (info(done).exit_code, info(done).result) == (4, "failure")
        slow = completed(client, "job", "slow")
        assert info(slow).requeue_count == 1
        assert info(slow).result == "success"


def test_kill_9_orphans_are_killed_on_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
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
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        output = proc.stdout
        assert output is not None
        wait_for("the emulator", lambda: b"listening" in output.readline(), timeout=30)
        client = _client(f"http://127.0.0.1:{port}")
        start_pid = tmp_path / "start.pid"
        make_pool(
            client,
            "pool",
            nodes=1,
            start_task=m.BatchStartTask(
                command_line=f"/bin/sh -c 'echo $$ > {start_pid}; exec sleep 30'",
                wait_for_success=False,
            ),
        )
        make_job(client, "job", "pool")
        add(client, "job", "orphan", "/bin/sh -c 'echo $$ > pid; sleep 30'")
        state_is(client, "job", "orphan", "running")
        pid = int(wait_for("pid", lambda: file_text(client, "job", "orphan", "wd/pid")))
        start = int(
            wait_for("start task pid", lambda: start_pid.read_text() if start_pid.exists() else "")
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert alive(pid), "a kill -9 leaves the task's process group running"
    assert alive(start)
    with EmulatorServer(data_dir=data, nodes_max=1) as again:
        wait_for("the orphan to be killed", lambda: not alive(pid), timeout=5)
        wait_for("the start task orphan to be killed", lambda: not alive(start), timeout=5)
        task = _client(again.url).get_task("job", "orphan")
        assert info(task).requeue_count == 1
