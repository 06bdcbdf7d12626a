"""Integer fields sent as JSON strings (``"targetDedicatedNodes": "2"``), as the Azure CLI sends
every integer option of ``az batch``: the service reads them as numbers, so the emulator does too,
and still refuses what is not an integer or is out of range."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.http_helpers import call

IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}


def _pool(emulator: Any) -> None:
    body = {
        "id": "p",
        "vmSize": "standard_d2s_v3",
        "virtualMachineConfiguration": IMAGE,
        "targetDedicatedNodes": "2",
        "targetLowPriorityNodes": " 0 ",
        "taskSlotsPerNode": "+2",
    }
    resp = call(emulator, "POST", "/pools", body=body)
    assert resp.status_code == 201, resp.text


def test_pool_create_and_resize_read_numeric_strings(emulator: Any) -> None:
    _pool(emulator)
    pool = call(emulator, "GET", "/pools/p").json()
    assert (pool["targetDedicatedNodes"], pool["taskSlotsPerNode"]) == (2, 2)
    resp = call(emulator, "POST", "/pools/p/resize", body={"targetDedicatedNodes": "1"})
    assert resp.status_code == 202, resp.text
    assert call(emulator, "GET", "/pools/p").json()["targetDedicatedNodes"] == 1


def test_job_and_task_read_numeric_strings(emulator: Any) -> None:
    _pool(emulator)
    job = {
        "id": "j",
        "poolInfo": {"poolId": "p"},
        "priority": "-5",
        "maxParallelTasks": "3",
        "constraints": {"maxTaskRetryCount": "1"},
    }
    assert call(emulator, "POST", "/jobs", body=job).status_code == 201
    got = call(emulator, "GET", "/jobs/j").json()
    assert (got["priority"], got["maxParallelTasks"]) == (-5, 3)
    assert got["constraints"]["maxTaskRetryCount"] == 1
    task = {
        "id": "t",
        "commandLine": "/bin/true",
        "requiredSlots": "1",
        "constraints": {"maxTaskRetryCount": "-1"},
        "exitConditions": {"exitCodes": [{"code": "7", "exitOptions": {"jobAction": "none"}}]},
    }
    resp = call(emulator, "POST", "/jobs/j/tasks", body=task)
    assert resp.status_code == 201, resp.text
    got = call(emulator, "GET", "/jobs/j/tasks/t").json()
    assert got["constraints"]["maxTaskRetryCount"] == -1
    assert got["exitConditions"]["exitCodes"][0]["code"] == 7
    resp = call(emulator, "PATCH", "/jobs/j", body={"priority": "10", "maxParallelTasks": "-1"})
    assert resp.status_code == 200, resp.text
    assert call(emulator, "GET", "/jobs/j").json()["priority"] == 10


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("two", "Expected an integer"),
        ("2.5", "Expected an integer"),
        ("", "Expected an integer"),
        ("0x10", "Expected an integer"),
        ("99999999999", "from 0 to"),
        ("-1", "from 0 to"),
        ("9" * 5000, "Expected an integer"),  # past int()'s digit limit: a 400, not a 500
    ],
)
def test_strings_that_are_not_integers_in_range_are_still_refused(
    emulator: Any, value: str, needle: str
) -> None:
    body = {"id": "p", "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": IMAGE}
    resp = call(emulator, "POST", "/pools", body={**body, "targetDedicatedNodes": value})
    assert resp.status_code == 400, resp.text
    assert needle in resp.text
    assert "targetDedicatedNodes" in resp.text
