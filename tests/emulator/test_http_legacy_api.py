"""Answers in the shape of the client's api-version: before 2020-09-01.12.0 a pool's slots are
``maxTasksPerNode`` and a job's task counts sit at the top level (``TaskCounts``); from it on,
``taskSlotsPerNode`` and ``TaskCountsResult``. azure-batch 6.0 (``test_sdk6.py``) is the
client that found it; this pins the boundary."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.http_helpers import call

POOL = {
    "id": "p",
    "vmSize": "standard_d2s_v3",
    "taskSlotsPerNode": 3,
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
}


@pytest.mark.parametrize(
    ("version", "legacy"),
    [
        ("2018-12-01.8.0", True),
        ("2020-03-01.11.0", True),
        ("2020-09-01.12.0", False),
        ("2025-06-01", False),
    ],
)
def test_pool_slots_and_task_counts_follow_the_api_version(
    emulator: Any, version: str, legacy: bool
) -> None:
    query = f"api-version={version}"
    assert call(emulator, "POST", "/pools", query, body=POOL).status_code == 201
    job = {"id": "j", "poolInfo": {"poolId": "p"}}
    assert call(emulator, "POST", "/jobs", query, body=job).status_code == 201
    pool = call(emulator, "GET", "/pools/p", query).json()
    listed = call(emulator, "GET", "/pools", f"{query}&$select=id,maxTasksPerNode").json()
    counts = call(emulator, "GET", "/jobs/j/taskcounts", query).json()
    if legacy:
        assert pool["maxTasksPerNode"] == 3
        assert listed["value"] == [{"id": "p", "maxTasksPerNode": 3}]
        assert counts["active"] == 0 and "taskCounts" not in counts
        assert counts["odata.metadata"].endswith("Entities.TaskCounts")
    else:
        assert "maxTasksPerNode" not in pool and pool["taskSlotsPerNode"] == 3
        assert counts["taskCounts"]["active"] == 0 and "active" not in counts
        assert counts["odata.metadata"].endswith("Entities.TaskCountsResult")
