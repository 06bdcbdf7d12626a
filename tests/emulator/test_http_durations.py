"""A task's durations in months: before they counted, ``retentionTime: P1M`` removed the
task's files at once and ``maxWallClockTime: P1M`` killed the task at once."""

from __future__ import annotations

import time
from pathlib import Path

from batchflow.emulator.server import EmulatorServer
from tests.emulator.http_helpers import call
from tests.emulator.test_http_file_delete import POOL


def test_a_month_long_retention_and_timeout_are_a_month(tmp_path: Path) -> None:
    with EmulatorServer(data_dir=tmp_path / "emu", nodes_max=1) as emu:
        assert call(emu, "POST", "/pools", body=POOL).status_code == 201
        call(emu, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
        constraints = {"retentionTime": "P1M", "maxWallClockTime": "P1M"}
        task = {"id": "t1", "commandLine": "/bin/sh -c 'sleep 1; echo hi'"}
        call(emu, "POST", "/jobs/j1/tasks", body={**task, "constraints": constraints})
        deadline = time.monotonic() + 30
        while (doc := call(emu, "GET", "/jobs/j1/tasks/t1").json())["state"] != "completed":
            assert time.monotonic() < deadline, "the task did not complete"
            time.sleep(0.05)
        assert doc["executionInfo"]["exitCode"] == 0, doc["executionInfo"]
        time.sleep(1)  # the retention sweep would have removed the files by now
        assert call(emu, "GET", "/jobs/j1/tasks/t1/files/stdout.txt").text == "hi\n"
