"""Old api-versions get their own shapes (batchflow/emulator/http/versions.py): raw
SharedKey-signed requests at the versions of azure-batch 6.x to 15.x, as those clients send
them, read back in each version's vocabulary."""

from __future__ import annotations

import time
from typing import Any

import pytest

from batchflow.emulator.http import versions
from tests.emulator.http_helpers import call

OLD = "2020-03-01.11.0"  # azure-batch 9.x, the last before task slots
SLOTS = "2020-09-01.12.0"  # azure-batch 10.0: taskSlotsPerNode, TaskCountsResult
SDK14 = "2024-02-01.19.0"  # azure-batch 14.2
NEW = "2025-06-01"
# Every api-version of the SDKs the emulator serves (6.x to 15.x).
ALL = [
    "2018-12-01.8.0",
    "2019-06-01.9.0",
    "2019-08-01.10.0",
    OLD,
    SLOTS,
    "2021-06-01.14.0",
    "2022-01-01.15.0",
    "2022-10-01.16.0",
    "2023-05-01.17.0",
    "2023-11-01.18.0",
    SDK14,
    "2024-07-01.20.0",
    NEW,
]
VM = {
    "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}
COUNTS = ("active", "running", "completed", "succeeded", "failed")


def at(version: str, extra: str = "") -> str:
    return f"api-version={version}{extra}"


def _get(emu: Any, path: str, version: str, extra: str = "") -> dict[str, Any]:
    resp = call(emu, "GET", path, at(version, extra))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _pool(emu: Any, version: str, slots: dict[str, int], nodes: int = 0) -> None:
    body = {"id": "p1", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": nodes, **slots}
    resp = call(
        emu, "POST", "/pools", at(version), body={**body, "virtualMachineConfiguration": VM}
    )
    assert resp.status_code == 201, resp.text


def test_a_pool_an_old_client_made_with_max_tasks_per_node_comes_back_with_it(
    emulator: Any,
) -> None:
    _pool(emulator, OLD, {"maxTasksPerNode": 3})
    old = _get(emulator, "/pools/p1", OLD)
    assert old["maxTasksPerNode"] == 3 and "taskSlotsPerNode" not in old
    listed = _get(emulator, "/pools", OLD, "&$select=id,maxTasksPerNode")["value"]
    assert listed == [{"id": "p1", "maxTasksPerNode": 3}]
    new = _get(emulator, "/pools/p1", NEW)
    assert new["taskSlotsPerNode"] == 3 and "maxTasksPerNode" not in new


def test_a_pool_made_with_task_slots_reads_as_max_tasks_per_node_to_old_clients(
    emulator: Any,
) -> None:
    _pool(emulator, NEW, {"taskSlotsPerNode": 2})
    for version in ALL:
        doc = _get(emulator, "/pools/p1", version)
        old = versions._day(version) < versions._day(SLOTS)
        assert (doc.get("maxTasksPerNode"), doc.get("taskSlotsPerNode")) == (
            (2, None) if old else (None, 2)
        ), version
        assert doc["targetLowPriorityNodes"] == 0 and "currentLowPriorityNodes" in doc


def _job_with_a_task(emu: Any) -> None:
    _pool(emu, NEW, {"taskSlotsPerNode": 2}, nodes=1)
    job = {"id": "j1", "poolInfo": {"poolId": "p1"}, "maxParallelTasks": 2}
    assert call(emu, "POST", "/jobs", body={**job, "allowTaskPreemption": False}).is_success
    task = {"id": "t1", "commandLine": "/bin/true", "requiredSlots": 2}
    assert call(emu, "POST", "/jobs/j1/tasks", body=task).is_success
    deadline = time.monotonic() + 60
    while _get(emu, "/jobs/j1/tasks/t1", NEW)["state"] != "completed":
        assert time.monotonic() < deadline, "the task did not complete"
        time.sleep(0.1)


def test_task_counts_are_the_counts_themselves_before_2020_09_01(emulator: Any) -> None:
    _job_with_a_task(emulator)
    for version in ("2018-12-01.8.0", "2019-08-01.10.0", OLD):
        body = _get(emulator, "/jobs/j1/taskcounts", version)
        assert {k: body[k] for k in COUNTS} == {
            "active": 0,
            "running": 0,
            "completed": 1,
            "succeeded": 1,
            "failed": 0,
        }, version
        assert set(body) == {"odata.metadata", *COUNTS}
        assert body["odata.metadata"].endswith("Protocol.Entities.TaskCounts")
    for version in (SLOTS, SDK14, NEW):
        body = _get(emulator, "/jobs/j1/taskcounts", version)
        assert body["taskCounts"]["completed"] == 1, version
        assert body["taskSlotCounts"]["completed"] == 2
        assert set(body) == {"odata.metadata", "taskCounts", "taskSlotCounts"}
        assert body["odata.metadata"].endswith("Protocol.Entities.TaskCountsResult")


def test_fields_a_version_does_not_have_are_not_in_its_answers(emulator: Any) -> None:
    _job_with_a_task(emulator)
    assert "requiredSlots" not in _get(emulator, "/jobs/j1/tasks/t1", OLD)
    assert _get(emulator, "/jobs/j1/tasks/t1", SLOTS)["requiredSlots"] == 2
    assert [t.get("requiredSlots") for t in _get(emulator, "/jobs/j1/tasks", OLD)["value"]] == [
        None
    ]
    node_fields = ("runningTaskSlotsCount", "virtualMachineInfo", "ipv6Address")
    for version, has in [
        (OLD, ()),
        (SLOTS, node_fields[:1]),
        ("2021-06-01.14.0", node_fields[:2]),
        (SDK14, node_fields[:2]),
        (NEW, node_fields),
    ]:
        node = _get(emulator, "/pools/p1/nodes", version)["value"][0]
        assert tuple(f for f in node_fields if f in node) == has, version
    job_fields = ("maxParallelTasks", "allowTaskPreemption")
    for version, has in [
        (SLOTS, ()),
        ("2021-06-01.14.0", job_fields[:1]),
        ("2022-01-01.15.0", job_fields),
        (NEW, job_fields),
    ]:
        job = _get(emulator, "/jobs/j1", version)
        assert tuple(f for f in job_fields if f in job) == has, version


@pytest.mark.parametrize("change", versions.CHANGES, ids=lambda c: f"{c.shape}-{c.since}")
def test_each_change_names_an_api_version_the_emulator_serves(change: versions.Change) -> None:
    assert change.since in ALL


def test_an_auto_pool_an_old_client_specified_reads_back_in_its_names(emulator: Any) -> None:
    spec = {
        "poolLifetimeOption": "job",
        "pool": {
            "vmSize": "standard_d2s_v3",
            "maxTasksPerNode": 4,
            "virtualMachineConfiguration": VM,
        },
    }
    job = {
        "id": "j1",
        "poolInfo": {"autoPoolSpecification": spec},
        "onAllTasksComplete": "noaction",
    }
    assert call(emulator, "POST", "/jobs", at(OLD), body=job).status_code == 201
    schedule = {
        "id": "s1",
        "schedule": {"doNotRunUntil": "2100-01-01T00:00:00Z"},
        "jobSpecification": {"poolInfo": {"autoPoolSpecification": spec}},
    }
    assert call(emulator, "POST", "/jobschedules", at(OLD), body=schedule).status_code == 201
    pools = [
        _get(emulator, "/jobs/j1", version)["poolInfo"]["autoPoolSpecification"]["pool"]
        for version in (OLD, NEW)
    ]
    pools += [
        _get(emulator, "/jobschedules/s1", version)["jobSpecification"]["poolInfo"][
            "autoPoolSpecification"
        ]["pool"]
        for version in (OLD, NEW)
    ]
    slots = [(p.get("maxTasksPerNode"), p.get("taskSlotsPerNode")) for p in pools]
    assert slots == [(4, None), (None, 4), (4, None), (None, 4)]


def test_pool_fields_2025_06_01_no_longer_has_reach_only_older_clients(emulator: Any) -> None:
    legacy = {
        "certificateReferences": [{"thumbprint": "ab", "thumbprintAlgorithm": "sha1"}],
        "applicationLicenses": ["maya"],
        "resourceTags": {"team": "render"},
        "targetNodeCommunicationMode": "default",
    }
    pool = {"id": "p1", "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": VM}
    assert call(emulator, "POST", "/pools", at(SDK14), body={**pool, **legacy}).is_success
    spec = {"poolLifetimeOption": "job", "pool": {**pool, **legacy, "id": None}}
    spec["pool"].pop("id")
    job = {"id": "j1", "poolInfo": {"autoPoolSpecification": spec}}
    assert call(emulator, "POST", "/jobs", at(SDK14), body=job).is_success
    old_pool, new_pool = (_get(emulator, "/pools/p1", v) for v in (SDK14, NEW))
    assert {k: old_pool[k] for k in legacy} == legacy
    assert not set(legacy) & set(new_pool)
    auto = [
        _get(emulator, "/jobs/j1", v)["poolInfo"]["autoPoolSpecification"]["pool"]
        for v in (SDK14, NEW)
    ]
    assert set(legacy) <= set(auto[0]) and not set(legacy) & set(auto[1])


def test_node_agent_skus_are_listed_only_at_the_versions_that_had_them(emulator: Any) -> None:
    """ListNodeAgentSKUs until 2019-06-01.9.0 replaced it with ListSupportedImages."""
    skus = _get(emulator, "/nodeagentskus", "2018-12-01.8.0")["value"]
    ubuntu = next(s for s in skus if s["id"] == "batch.node.ubuntu 22.04")
    assert ubuntu["osType"] == "linux"
    assert {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy"}.items() <= (
        ubuntu["verifiedImageReferences"][0].items()
    )
    page = _get(emulator, "/nodeagentskus", "2018-12-01.8.0", "&maxresults=1")
    assert len(page["value"]) == 1 and "odata.nextLink" in page
    gone = call(emulator, "GET", "/nodeagentskus", at("2019-06-01.9.0"))
    assert gone.status_code == 404, gone.text
