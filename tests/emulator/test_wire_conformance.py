"""Every operation the emulator implements, answered once at api-version 2025-06-01 and
checked against the Batch OpenAPI definition (tests/openapi/conformance.py): the statuses,
the declared headers (the client-request-id echo asked for on every request), the bodies.
The suite-wide check in conftest does the same for every other test; this one makes sure
each route is exercised at least once, whatever the other tests happen to call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from batchflow.emulator.http import recording
from tests.emulator.http_helpers import call
from tests.openapi import conformance

IMAGE = {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"}
POOL = {
    "id": "p1",
    "vmSize": "standard_d2s_v3",
    "targetDedicatedNodes": 1,
    "taskSlotsPerNode": 2,
    "startTask": {"commandLine": "/bin/sh -c 'echo up'", "waitForSuccess": True},
    "virtualMachineConfiguration": {
        "imageReference": IMAGE,
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
}
ASK = {
    "client-request-id": "9f0c5e1e-0000-4000-8000-00000000abcd",
    "return-client-request-id": "true",
}


@pytest.fixture()
def answers() -> Iterator[list[recording.Exchange]]:
    seen: list[recording.Exchange] = []
    stop = recording.add(seen.append)
    try:
        yield seen
    finally:
        stop()


def _ok(emu: Any, method: str, path: str, body: object = None, status: int = 0) -> httpx.Response:
    resp = call(emu, method, path, body=body, headers=dict(ASK))
    assert resp.status_code < 300, (method, path, resp.status_code, resp.text)
    assert status in (0, resp.status_code), (method, path, resp.status_code)
    return resp


def _until(emu: Any, path: str, ready: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = _ok(emu, "GET", path).json()
        if ready(doc) or time.monotonic() > deadline:
            assert ready(doc), doc
            return doc
        time.sleep(0.1)


def _pools(emu: Any) -> None:
    _ok(emu, "POST", "/pools", POOL, 201)
    _ok(emu, "GET", "/pools")
    _ok(emu, "HEAD", "/pools/p1")
    _ok(emu, "PATCH", "/pools/p1", {"metadata": [{"name": "k", "value": "v"}]})
    _ok(emu, "POST", "/pools/p1/updateproperties", {"metadata": []}, 204)
    _ok(emu, "POST", "/pools/p1/enableautoscale", {"autoScaleFormula": "$TargetDedicatedNodes=1;"})
    _ok(
        emu, "POST", "/pools/p1/evaluateautoscale", {"autoScaleFormula": "$TargetDedicatedNodes=1;"}
    )
    _ok(emu, "POST", "/pools/p1/disableautoscale")
    _until(emu, "/pools/p1", lambda p: p["allocationState"] == "steady")
    _ok(emu, "POST", "/pools/p1/resize", {"targetDedicatedNodes": 1}, 202)
    nodes = _until(
        emu, "/pools/p1/nodes", lambda n: [x for x in n["value"] if x["state"] == "idle"]
    )
    node = f"/pools/p1/nodes/{nodes['value'][0]['id']}"
    _ok(emu, "GET", node)
    files = call(emu, "GET", f"{node}/files", "api-version=2025-06-01&recursive=true").json()
    some = next(f["name"] for f in files["value"] if not f["isDirectory"])
    _ok(emu, "GET", f"{node}/files/{some.replace('/', '%2F')}")
    _ok(emu, "HEAD", f"{node}/files/{some.replace('/', '%2F')}")


def _jobs_and_tasks(emu: Any) -> None:
    job = {"id": "j1", "poolInfo": {"poolId": "p1"}}
    _ok(emu, "POST", "/jobs", job, 201)
    _ok(emu, "GET", "/jobs")
    _ok(emu, "PATCH", "/jobs/j1", {"priority": 1})
    _ok(emu, "PUT", "/jobs/j1", {"poolInfo": {"poolId": "p1"}, "priority": 2})
    _ok(emu, "POST", "/jobs/j1/tasks", {"id": "t1", "commandLine": "/bin/sh -c 'echo hi'"}, 201)
    bad = {"id": "t3", "commandLine": "/bin/sh -c 'exit 3'"}
    long = {"id": "t2", "commandLine": "/bin/sh -c 'sleep 60'"}
    _ok(emu, "POST", "/jobs/j1/addtaskcollection", {"value": [long, bad, {"id": "x y"}]})
    _ok(emu, "GET", "/jobs/j1/tasks")
    _until(emu, "/jobs/j1/tasks/t1", lambda t: t["state"] == "completed")
    _until(emu, "/jobs/j1/tasks/t3", lambda t: t["state"] == "completed")
    _ok(emu, "PUT", "/jobs/j1/tasks/t1", {"constraints": {"maxTaskRetryCount": 0}})
    _ok(emu, "GET", "/jobs/j1/taskcounts")
    _ok(emu, "GET", "/jobs/j1/tasks/t1/files")
    _ok(emu, "GET", "/jobs/j1/tasks/t1/files/stdout.txt")
    _ok(emu, "HEAD", "/jobs/j1/tasks/t1/files/stdout.txt")
    _ok(emu, "POST", "/jobs/j1/tasks/t3/reactivate", None, 204)
    _ok(emu, "POST", "/jobs/j1/tasks/t2/terminate", None, 204)
    _ok(emu, "DELETE", "/jobs/j1/tasks/t1")
    _ok(emu, "POST", "/jobs/j1/terminate", None, 202)
    _ok(emu, "DELETE", "/jobs/j1", None, 202)
    _ok(emu, "DELETE", "/pools/p1", None, 202)


def test_every_operation_answers_as_the_api_declares(
    emulator: Any, answers: list[recording.Exchange]
) -> None:
    _pools(emulator)
    _jobs_and_tasks(emulator)
    missing = call(emulator, "GET", "/jobs/nope", headers=dict(ASK))
    assert missing.status_code == 404

    from batchflow.emulator.http.app import BATCH_ROUTES

    answered = {a.operation for a in answers}
    unanswered = {r.op for r in BATCH_ROUTES} - answered
    assert not unanswered, f"add a call of each to this scenario: {sorted(unanswered)}"
    assert [p for a in answers for p in conformance.problems(a)] == []
    assert all(a.api_version == conformance.API_VERSION for a in answers)


def test_an_action_whose_resource_is_deleted_meanwhile_still_answers(emulator: Any) -> None:
    """The resource is read after the action for its ETag; a concurrent delete between the
    two leaves the answer without them, not a 404 for an action that happened."""
    from batchflow.emulator.http import routes
    from batchflow.emulator.http.base import Req

    req = Req(emulator.service, "POST", "/pools/gone/resize", ("gone",), {}, {}, b"", "", "")
    assert routes._after(req, req.core.pool) is None
