"""The Azure CLI (``az batch``, in its own virtualenv from ``client_envs``) drives the emulator:
pools, nodes, jobs, tasks and files. It sends every integer option as a JSON string
(``"targetDedicatedNodes": "2"``), which the service, and so the emulator, reads as a number.

``.ci/run`` makes its virtualenv (``python -m tests.emulator.client_envs azure-cli``, 2-5
minutes); outside CI the test skips when it is missing, in CI it fails unless the run opted out
with ``BATCHFLOW_WITHOUT_AZ_CLI=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulator import client_envs

AZ = client_envs.AZ_CLI.bin / "az"
IMAGE = "canonical:0001-com-ubuntu-server-jammy:22_04-lts"


@pytest.fixture()
def az(emulator: Any, tmp_path: Path) -> Callable[..., Any]:
    if not AZ.exists():
        if os.environ.get("CI") and os.environ.get("BATCHFLOW_WITHOUT_AZ_CLI") != "1":
            raise AssertionError(f"no Azure CLI at {AZ}: .ci/run should have made it")
        pytest.skip(f"no Azure CLI at {AZ}: python -m tests.emulator.client_envs azure-cli")
    env = {**os.environ, "AZURE_CONFIG_DIR": str(tmp_path / "az-config")}
    account = [
        *("--account-name", emulator.account),
        *("--account-key", emulator.key),
        *("--account-endpoint", emulator.url),
    ]

    def run(*args: str, fails: bool = False) -> Any:
        """The command's JSON answer; with ``fails``, the error it printed instead."""
        proc = subprocess.run(
            [AZ, "batch", *args, *account, "--only-show-errors", "-o", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if fails:
            assert proc.returncode != 0, f"az batch {' '.join(args)} did not fail"
            return proc.stderr
        assert proc.returncode == 0, f"az batch {' '.join(args)}: {proc.stderr[-2000:]}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    return run


def _until(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_az_batch_pools_jobs_tasks_nodes_files(az: Callable[..., Any], tmp_path: Path) -> None:
    az(
        *("pool", "create", "--id", "pz", "--vm-size", "standard_d2s_v3", "--image", IMAGE),
        *("--node-agent-sku-id", "batch.node.ubuntu 22.04", "--target-dedicated-nodes", "2"),
        *("--task-slots-per-node", "2"),
    )
    pool = az("pool", "show", "--pool-id", "pz")
    assert (pool["targetDedicatedNodes"], pool["taskSlotsPerNode"]) == (2, 2)
    _until(lambda: len(az("node", "list", "--pool-id", "pz")) == 2, "two nodes")
    node = az("node", "list", "--pool-id", "pz")[0]
    assert az("node", "show", "--pool-id", "pz", "--node-id", node["id"])["id"] == node["id"]
    az("pool", "resize", "--pool-id", "pz", "--target-dedicated-nodes", "1")
    assert az("pool", "show", "--pool-id", "pz")["targetDedicatedNodes"] == 1

    az(
        *("job", "create", "--id", "jz", "--pool-id", "pz", "--priority", "3"),
        *("--max-parallel-tasks", "2", "--job-max-task-retry-count", "1"),
    )
    job = az("job", "show", "--job-id", "jz")
    assert (job["priority"], job["maxParallelTasks"]) == (3, 2)
    assert job["constraints"]["maxTaskRetryCount"] == 1
    az("job", "set", "--job-id", "jz", "--priority", "7")
    assert az("job", "show", "--job-id", "jz")["priority"] == 7
    az(
        *("task", "create", "--job-id", "jz", "--task-id", "tz"),
        *("--command-line", "/bin/sh -c 'echo from az'", "--max-task-retry-count", "2"),
    )
    many = [
        {"id": f"m{i}", "commandLine": "/bin/true", "constraints": {"maxTaskRetryCount": "1"}}
        for i in range(3)
    ]
    (tmp_path / "tasks.json").write_text(json.dumps(many))
    az("task", "create", "--job-id", "jz", "--json-file", str(tmp_path / "tasks.json"))
    _until(
        lambda: az("job", "task-counts", "show", "--job-id", "jz")["taskCounts"]["completed"] == 4,
        "four completed tasks",
    )
    task = az("task", "show", "--job-id", "jz", "--task-id", "tz")
    assert task["constraints"]["maxTaskRetryCount"] == 2
    assert task["executionInfo"]["exitCode"] == 0
    files = az("task", "file", "list", "--job-id", "jz", "--task-id", "tz")
    assert {"stdout.txt", "stderr.txt"} <= {f["name"] for f in files}
    out = tmp_path / "stdout.txt"
    az(
        *("task", "file", "download", "--job-id", "jz", "--task-id", "tz"),
        *("--file-path", "stdout.txt", "--destination", str(out)),
    )
    assert out.read_text() == "from az\n"
    az(
        *("task", "file", "delete", "--job-id", "jz", "--task-id", "tz"),
        *("--file-path", "stderr.txt", "--yes"),
    )
    files = az("task", "file", "list", "--job-id", "jz", "--task-id", "tz")
    assert "stderr.txt" not in {f["name"] for f in files}

    az("job", "delete", "--job-id", "jz", "--yes")
    az("pool", "delete", "--pool-id", "pz", "--yes")


def test_az_batch_job_schedules_and_node_operations(az: Callable[..., Any]) -> None:
    az(
        *("pool", "create", "--id", "pz", "--vm-size", "standard_d2s_v3", "--image", IMAGE),
        *("--node-agent-sku-id", "batch.node.ubuntu 22.04", "--target-dedicated-nodes", "1"),
        *("--start-task-command-line", "/bin/sh -c 'echo up'"),
    )
    az(
        *("job-schedule", "create", "--id", "sz", "--pool-id", "pz", "--priority", "2"),
        *("--recurrence-interval", "PT1H", "--metadata", "owner=az"),
    )
    assert [s["id"] for s in az("job-schedule", "list")] == ["sz"]
    # Without --do-not-run-until the first job is made at once, and runs a task.
    _until(lambda: bool(az("job", "list", "--job-schedule-id", "sz")), "the schedule's job")
    assert [j["id"] for j in az("job", "list", "--job-schedule-id", "sz")] == ["sz:job-1"]
    az("task", "create", "--job-id", "sz:job-1", "--task-id", "s1", "--command-line", "/bin/true")
    # A patched jobSpecification replaces the schedule's whole (the CLI's help says so), and
    # a job specification needs its pool: --priority alone is refused.
    refused = az("job-schedule", "set", "--job-schedule-id", "sz", "--priority", "5", fails=True)
    assert "MissingRequiredProperty" in refused
    az("job-schedule", "set", "--job-schedule-id", "sz", "--priority", "5", "--pool-id", "pz")
    schedule = az("job-schedule", "show", "--job-schedule-id", "sz")
    assert schedule["state"] == "active"
    assert schedule["jobSpecification"]["priority"] == 5
    assert schedule["executionInfo"]["recentJob"]["id"] == "sz:job-1"
    az("job-schedule", "disable", "--job-schedule-id", "sz")
    assert az("job-schedule", "show", "--job-schedule-id", "sz")["state"] == "disabled"
    az("job-schedule", "enable", "--job-schedule-id", "sz")
    ran = lambda: az("task", "show", "--job-id", "sz:job-1", "--task-id", "s1")  # noqa: E731
    _until(lambda: ran()["state"] == "completed", "the scheduled job's task")
    assert ran()["executionInfo"]["exitCode"] == 0
    az("job-schedule", "stop", "--job-schedule-id", "sz")  # terminating, then completed
    _until(
        lambda: az("job-schedule", "show", "--job-schedule-id", "sz")["state"] == "completed",
        "the schedule completed",
    )
    assert az("job", "show", "--job-id", "sz:job-1")["state"] == "completed"
    az("job-schedule", "delete", "--job-schedule-id", "sz", "--yes")  # deleting, then gone
    _until(lambda: not az("job-schedule", "list"), "the schedule deleted")
    gone = az("job-schedule", "show", "--job-schedule-id", "sz", fails=True)
    assert "JobScheduleNotFound" in gone

    node = az("node", "list", "--pool-id", "pz")[0]["id"]
    where = ("--pool-id", "pz", "--node-id", node)
    # az 2.91 sends this option wrapped twice ({"nodeDisableSchedulingOption":
    # {"nodeDisableSchedulingOption": "requeue"}}): refused, naming the field. Without it the
    # body is {} and the service's default (requeue) applies.
    nested = az(
        *("node", "scheduling", "disable", *where),
        *("--node-disable-scheduling-option", "requeue"),
        fails=True,
    )
    assert "InvalidPropertyValue" in nested and "nodeDisableSchedulingOption" in nested
    az("node", "scheduling", "disable", *where)
    assert az("node", "show", *where)["schedulingState"] == "disabled"
    az("node", "scheduling", "enable", *where)
    booted = az("node", "show", *where)["lastBootTime"]
    az("node", "reboot", *where, "--node-reboot-option", "requeue")
    _until(
        lambda: (lambda n: n["state"] == "idle" and n["lastBootTime"] != booted)(
            az("node", "show", *where)
        ),
        "the node rebooted",
    )
    az("node", "file", "delete", *where, "--file-path", "startup/stderr.txt", "--yes")
    files = {f["name"] for f in az("node", "file", "list", *where, "--recursive")}
    assert "startup/stdout.txt" in files and "startup/stderr.txt" not in files

    az("pool", "resize", "--pool-id", "pz", "--target-dedicated-nodes", "2")
    az("pool", "resize", "--pool-id", "pz", "--abort")
    pool = az("pool", "show", "--pool-id", "pz")
    assert pool["allocationState"] == "steady"
    assert pool["targetDedicatedNodes"] == pool["currentDedicatedNodes"]
    az("pool", "delete", "--pool-id", "pz", "--yes")
