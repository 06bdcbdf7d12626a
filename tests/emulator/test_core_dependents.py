"""A completed task releases its dependents without looking at every waiting task of its job:
the tasks that name it (or a range holding it) are found through an index, so a chain in a
job with thousands of waiting tasks does not slow down with their number."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchflow.emulator.kinds import Json
from batchflow.emulator.service import EmulatorService
from batchflow.emulator.state import outcomes, tasks


def _start(data: Path) -> EmulatorService:
    svc = EmulatorService(data, "acct", nodes_max=2)
    svc.start()
    return svc


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[EmulatorService]:
    svc = _start(tmp_path / "data")
    try:
        yield svc
    finally:
        svc.close()


def _wait(probe, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


def _job(service: EmulatorService) -> None:
    service.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
    service.create_job({"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True})


def _task(task_id: str, **depends: Any) -> Json:
    body: Json = {"id": task_id, "commandLine": "/bin/true"}
    if depends:
        body["dependsOn"] = depends
    return body


def _result(service: EmulatorService, task_id: str) -> str | None:
    doc = service.get_task("j", task_id)
    return str(doc["executionInfo"]["result"]) if doc["state"] == "completed" else None


def test_a_completion_checks_only_the_tasks_that_wait_on_it(
    service: EmulatorService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _job(service)
    # 600 tasks wait on one that never comes: each completion of the chain below used to
    # check all of them again.
    waiting = [_task(f"w{i}", taskIds=["never"]) for i in range(600)]
    for start in range(0, len(waiting), 100):
        service.create_tasks("j", waiting[start : start + 100])
    checks: list[str] = []
    real = outcomes.dependencies_met

    def counted(core: Any, job_id: str, depends_on: Json | None) -> bool:
        checks.append(job_id)
        return real(core, job_id, depends_on)

    monkeypatch.setattr(outcomes, "dependencies_met", counted)
    service.create_tasks(
        "j", [_task("a"), _task("b", taskIds=["A"]), _task("c", taskIds=["b", "a"])]
    )
    _wait(lambda: _result(service, "c"))
    assert [_result(service, t) for t in "abc"] == ["success"] * 3
    # Adding checks each new task once; each completion its own dependents (c twice).
    assert len(checks) < 20, f"{len(checks)} dependency checks for a 3-task chain"
    assert service.get_task("j", "w0")["state"] == "active"


def test_a_range_dependency_is_released_by_a_task_of_its_range(
    service: EmulatorService,
) -> None:
    _job(service)
    service.create_task("j", _task("after", taskIdRanges=[{"start": 1, "end": 3}]))
    service.create_tasks("j", [_task("2", taskIds=["1"]), _task("1")])
    _wait(lambda: _result(service, "after"))
    assert (
        service.get_task("j", "after")["executionInfo"]["startTime"]
        >= (service.get_task("j", "2")["executionInfo"]["endTime"])
    )


def test_a_deleted_and_added_again_task_waits_on_its_new_dependencies(
    service: EmulatorService,
) -> None:
    _job(service)
    service.create_task("j", _task("x", taskIds=["never"]))
    tasks.delete_task(service.core, "j", "x")  # no REST binding on the service
    service.create_tasks("j", [_task("x", taskIds=["first"]), _task("first")])
    _wait(lambda: _result(service, "x"))


def test_a_state_from_before_the_index_still_releases_its_waiting_tasks(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    svc = _start(data)
    try:
        _job(svc)
        svc.create_tasks(
            "j",
            [
                _task("named", taskIds=["later"]),
                _task("ranged", taskIdRanges=[{"start": 7, "end": 7}]),
            ],
        )
    finally:
        svc.close()
    with sqlite3.connect(data / "state.db") as db:  # as an earlier version left it
        db.execute("DROP TABLE task_waits")
    svc = _start(data)
    try:
        svc.create_tasks("j", [_task("later"), _task("7")])
        _wait(lambda: _result(svc, "named") and _result(svc, "ranged"))
    finally:
        svc.close()
