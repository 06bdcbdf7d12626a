"""The oldest SDK the emulator serves, azure-batch 6.0 (api-version 2018-12-01.8.0), drives it
end to end from its own virtualenv (``client_envs``): pools, nodes, jobs, tasks and files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.emulator import client_envs

HERE = Path(__file__).resolve().parent


def test_azure_batch_6_scenario(emulator: Any) -> None:
    python = client_envs.ensure_or_skip(client_envs.SDK6) / "python"
    proc = subprocess.run(
        [python, HERE / "sdk6_scenario.py", emulator.url, emulator.account, emulator.key],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["api_version"] == "2018-12-01.8.0"
    assert seen["pool_dup"] == "PoolExists"
    assert seen["pool"] == ["steady", 2, 2]
    assert seen["pool_exists"] == [True, False]
    assert seen["pool_ids"] == ["p6"]
    assert seen["metadata"] == [["stage", "2"]]
    assert seen["node"] == [True, "enabled", True]
    assert "startup/stdout.txt" in seen["node_files"]
    assert seen["start_task_stdout"] == "ready\n"
    assert seen["job_dup"] == "JobExists"
    assert seen["job_priority"] == 7
    assert seen["counts"] == [0, 0, 23, 21, 2]
    assert seen["task_ids"] == 23
    assert seen["t0"] == ["completed", 0, "success"]
    assert seen["t0_node"] == "p6"
    assert seen["fails"] == [4, "usererror"]
    assert seen["slow"] == ["failure", "TaskEnded"]
    assert seen["after"] == "success"
    assert seen["failed_ids"] == ["fails", "slow"]
    assert seen["task_missing"] == "TaskNotFound"
    assert (seen["stdout"], seen["stderr"]) == ("hello t3\n", "oops\n")
    assert seen["stdout_length"] == len("hello t3\n")
    assert {"stdout.txt", "stderr.txt"} <= set(seen["task_files"])
    assert seen["file_missing"] == 404
    assert "stderr.txt" not in seen["after_delete"] and "stdout.txt" in seen["after_delete"]
    assert seen["reactivated"] == 4  # ran again, and failed again
    assert seen["deleted_task"] == "TaskNotFound"
    assert seen["after_resize"] == 1
    assert seen["schedule_dup"] == "JobScheduleExists"
    assert seen["schedule_exists"] == [True, False]
    assert seen["schedule_ids"] == ["s6"]
    assert seen["scheduled_run"] == ["success", "s6:job-1\n", 3]
    assert seen["schedule"] == ["active", 3600.0, "s6:job-1", True]
    assert (seen["schedule_disabled"], seen["schedule_enabled"]) == ("disabled", "active")
    assert seen["schedule_job_after_terminate"] == "completed"
    assert seen["schedule_deleted"] == ["JobNotFound", "JobScheduleNotFound"]
    assert seen["scheduling"] == ["disabled", "enabled"]
    assert seen["rebooted"] == "idle"
    assert seen["reboot_missing"] == "NodeNotFound"
    assert seen["node_file_delete"] == [False, True, "FileNotFound"]
    assert seen["node_counts"] == [["p6", 1, 1, 0]]
    # 6.0 lists images with GET /nodeagentskus (ListNodeAgentSKUs, replaced by
    # ListSupportedImages in 2019-06-01.9.0): answered at that version, in its shape.
    skus = seen["node_agent_skus"]
    assert "batch.node.ubuntu 22.04" in skus, skus
    assert ["canonical", "0001-com-ubuntu-server-jammy", "22_04-lts"] in skus[
        "batch.node.ubuntu 22.04"
    ]
    # Lifetime statistics left the API in 2023-05-01.17.0: the answer says what is emulated.
    assert seen["lifetime_stats"] == [
        "ResourceNotFound",
        "The local Batch emulator does not implement GET /lifetimepoolstats: it emulates the "
        "operations of the Batch API 2025-06-01, and this is not one of them.",
    ]
