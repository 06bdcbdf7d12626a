"""EmulatorService driven directly (no HTTP): collection results, case-insensitive ids, reset,
and that task documents are not held in memory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.service import EmulatorService


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[EmulatorService]:
    svc = EmulatorService(tmp_path / "data", "acct", nodes_max=2)
    svc.start()
    try:
        yield svc
    finally:
        svc.close()


def _wait(probe, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


def test_collection_reports_each_task(service: EmulatorService) -> None:
    service.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
    service.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    service.create_task("j", {"id": "dup", "commandLine": "/bin/true"})
    results = service.create_tasks(
        "j",
        [
            {"id": "a", "commandLine": "/bin/true"},
            {"id": "DUP", "commandLine": "/bin/true"},
            {"id": "b", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["a"]}},
        ],
    )
    assert [r["status"] for r in results] == ["success", "clienterror", "clienterror"]
    assert results[1]["error"]["code"] == "TaskExists"
    assert results[2]["error"]["code"] == "TaskDependenciesNotSpecifiedOnJob"
    assert service.get_task("J", "A")["id"] == "a"
    page = service.list_tasks("j", None, None, 1)
    assert [t["id"] for t in page.items] == ["dup"] and page.next_token
    rest = service.list_tasks("j", None, page.next_token, 10)
    assert [t["id"] for t in rest.items] == ["a"] and rest.next_token is None


def test_errors_carry_batch_codes(service: EmulatorService) -> None:
    with pytest.raises(BatchServiceError) as info:
        service.get_job("missing")
    assert (info.value.status, info.value.code) == (404, "JobNotFound")
    service.create_pool({"id": "p", "vmSize": "standard_a1_v2"})
    with pytest.raises(BatchServiceError) as info:
        service.create_pool({"id": "P", "vmSize": "standard_a1_v2"})
    assert (info.value.status, info.value.code) == (409, "PoolExists")
    service.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    with pytest.raises(BatchServiceError) as info:
        service.get_task("j", "nope")
    assert info.value.code == "TaskNotFound"


def test_update_task_replaces_constraints(service: EmulatorService) -> None:
    service.create_job({"id": "j", "poolInfo": {"poolId": "nowhere"}})
    service.create_task(
        "j", {"id": "t", "commandLine": "/bin/true", "constraints": {"maxTaskRetryCount": 2}}
    )
    before = service.get_task("j", "t")
    service.update_task("j", "t", {"constraints": {"maxWallClockTime": "PT5M"}})
    after = service.get_task("j", "t")
    assert after["constraints"]["maxWallClockTime"] == "PT5M"
    assert after["constraints"]["maxTaskRetryCount"] == 0
    assert after["eTag"] != before["eTag"]
    assert after["state"] == "active"  # no pool: the task waits, as on Batch


def test_reset_forgets_everything_and_kills(service: EmulatorService) -> None:
    service.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
    service.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    service.create_task("j", {"id": "t", "commandLine": "/bin/sleep 30"})
    _wait(lambda: service.get_task("j", "t")["state"] == "running")
    service.reset()
    assert service.list_pools(None, None, 10).items == []
    assert service.list_jobs(None, None, 10).items == []
    service.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
    _wait(lambda: service.list_nodes("p", "state eq 'idle'", None, 10).items)


def test_task_documents_stay_in_the_store(service: EmulatorService) -> None:
    service.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 2})
    service.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    for start in range(0, 300, 100):
        service.create_tasks(
            "j", [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(start, start + 100)]
        )
    _wait(lambda: service.task_counts("j")["taskCounts"]["completed"] == 300)
    core = service.core
    assert core.running == {}
    assert len(core.job_cache) <= 1
    counts = service.task_counts("j")
    assert counts["taskCounts"]["succeeded"] == 300
    assert counts["taskSlotCounts"]["completed"] == 300


def test_reactivated_dependency_unblocks_its_dependents(
    service: EmulatorService, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    service.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
    service.create_job({"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True})
    service.create_task("j", {"id": "dep", "commandLine": f"/usr/bin/test -f {flag}"})
    service.create_task(
        "j", {"id": "after", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["dep"]}}
    )
    _wait(lambda: service.get_task("j", "dep")["state"] == "completed")
    assert service.get_task("j", "dep")["executionInfo"]["result"] == "failure"
    assert service.get_task("j", "after")["state"] == "active"
    flag.touch()
    service.reactivate_task("j", "dep")
    _wait(lambda: service.get_task("j", "after")["state"] == "completed")
    assert service.get_task("j", "after")["executionInfo"]["result"] == "success"
