"""Every operation the emulator implements, answered once at api-version 2025-06-01 and
checked against the Batch OpenAPI definition (tests/openapi/conformance.py): the statuses,
the declared headers (the client-request-id echo asked for on every request), the bodies.
The suite-wide check in conftest does the same for every other test; this one makes sure
each route is exercised at least once, whatever the other tests happen to call."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from batchflow.emulator.http import recording
from batchflow.emulator.server import EmulatorServer
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
        "extensions": [
            {
                "name": "mon",
                "publisher": "Microsoft.Azure.Monitor",
                "type": "AzureMonitorLinuxAgent",
            }
        ],
    },
}
SCHEDULE = {
    "id": "s1",
    "schedule": {"doNotRunUntil": "2100-01-01T00:00:00Z", "recurrenceInterval": "PT1H"},
    "jobSpecification": {"poolInfo": {"poolId": "p1"}},
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


def _pools(emu: Any) -> str:
    _ok(emu, "POST", "/pools", POOL, 201)
    _ok(emu, "GET", "/pools")
    _ok(emu, "HEAD", "/pools/p1")
    _ok(emu, "PATCH", "/pools/p1", {"metadata": [{"name": "k", "value": "v"}]})
    replace = {"metadata": [], "applicationPackageReferences": []}
    _ok(emu, "POST", "/pools/p1/updateproperties", replace, 204)
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
    return node


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
    _ok(emu, "GET", "/jobs/j1/tasks/t1/subtasksinfo")
    _ok(emu, "DELETE", "/jobs/j1/tasks/t1/files/stdout.txt")
    _ok(emu, "DELETE", "/jobs/j1/tasks/t1")
    _ok(emu, "POST", "/jobs/j1/disable", {"disableTasks": "requeue"}, 202)
    _ok(emu, "POST", "/jobs/j1/enable", None, 202)
    _ok(emu, "GET", "/jobs/j1/jobpreparationandreleasetaskstatus")


def _idle(emu: Any, node: str) -> None:
    _until(emu, node, lambda n: n["state"] == "idle")


def _node_operations(emu: Any, node: str, azurite: str) -> None:
    _ok(emu, "GET", f"{node}/remoteloginsettings")
    _ok(emu, "GET", f"{node}/extensions")
    _ok(emu, "GET", f"{node}/extensions/mon")
    _ok(emu, "POST", f"{node}/users", {"name": "u1", "password": "Pw-1234567!"}, 201)
    _ok(emu, "PUT", f"{node}/users/u1", {"password": "Pw-7654321!"})
    _ok(emu, "DELETE", f"{node}/users/u1")
    _ok(emu, "POST", f"{node}/uploadbatchservicelogs", _log_upload(azurite))
    _ok(emu, "DELETE", f"{node}/files/startup%2Fstdout.txt")
    _ok(emu, "POST", f"{node}/disablescheduling", {"nodeDisableSchedulingOption": "requeue"})
    _ok(emu, "POST", f"{node}/enablescheduling")
    _ok(emu, "POST", f"{node}/reboot", None, 202)
    _idle(emu, node)
    _ok(emu, "POST", f"{node}/reimage", None, 202)
    _idle(emu, node)
    _ok(emu, "POST", f"{node}/deallocate", None, 202)
    _until(emu, node, lambda n: n["state"] == "deallocated")
    _ok(emu, "POST", f"{node}/start", None, 202)
    _idle(emu, node)
    _ok(emu, "GET", "/poolusagemetrics")
    _ok(emu, "GET", "/supportedimages")
    _ok(emu, "GET", "/nodecounts")
    _ok(emu, "GET", "/applications")
    _ok(emu, "GET", "/applications/app1")
    _ok(emu, "POST", "/pools/p1/resize", {"targetDedicatedNodes": 2}, 202)
    _ok(emu, "POST", "/pools/p1/stopresize", None, 202)
    _until(emu, "/pools/p1", lambda p: p["allocationState"] == "steady")
    _ok(emu, "POST", "/pools/p1/removenodes", {"nodeList": [node.rsplit("/", 1)[1]]}, 202)


def _log_upload(azurite: str) -> dict[str, str]:
    service = BlobServiceClient.from_connection_string(azurite)
    container = service.create_container(f"logs{time.time_ns()}")
    sas = generate_container_sas(
        service.account_name,
        container.container_name,
        account_key=service.credential.account_key,
        permission=ContainerSasPermissions(write=True, create=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    return {"containerUrl": f"{container.url}?{sas}", "startTime": start.isoformat()}


def _schedules(emu: Any) -> None:
    _ok(emu, "POST", "/jobschedules", SCHEDULE, 201)
    _ok(emu, "GET", "/jobschedules")
    _ok(emu, "GET", "/jobschedules/s1")
    _ok(emu, "HEAD", "/jobschedules/s1")
    _ok(emu, "PATCH", "/jobschedules/s1", {"metadata": [{"name": "k", "value": "v"}]})
    _ok(emu, "PUT", "/jobschedules/s1", {k: v for k, v in SCHEDULE.items() if k != "id"})
    _ok(emu, "POST", "/jobschedules/s1/disable", None, 204)
    _ok(emu, "POST", "/jobschedules/s1/enable", None, 204)
    _ok(emu, "GET", "/jobschedules/s1/jobs")
    _ok(emu, "POST", "/jobschedules/s1/terminate", None, 202)
    _ok(emu, "DELETE", "/jobschedules/s1", None, 202)


def _cleanup(emu: Any) -> None:
    _ok(emu, "POST", "/jobs/j1/terminate", None, 202)
    _ok(emu, "DELETE", "/jobs/j1", None, 202)
    _ok(emu, "DELETE", "/pools/p1", None, 202)


def test_every_operation_answers_as_the_api_declares(
    tmp_path: Path, azurite: str, answers: list[recording.Exchange]
) -> None:
    apps = ({"id": "app1", "displayName": "app1", "versions": ["1.0"]},)
    with EmulatorServer(data_dir=tmp_path / "emu", nodes_max=2, applications=apps) as emulator:
        node = _pools(emulator)
        _jobs_and_tasks(emulator)
        _node_operations(emulator, node, azurite)
        _schedules(emulator)
        _cleanup(emulator)
        missing = call(emulator, "GET", "/jobs/nope", headers=dict(ASK))
        assert missing.status_code == 404

    from batchflow.emulator.http.app import BATCH_ROUTES, OLDER_API_ONLY

    answered = {a.operation for a in answers}
    unanswered = {r.op for r in BATCH_ROUTES} - answered - OLDER_API_ONLY
    assert not unanswered, f"add a call of each to this scenario: {sorted(unanswered)}"
    found = list(dict.fromkeys(p for a in answers for p in conformance.problems(a)))
    assert not found, "\n".join(found)
    assert all(a.api_version == conformance.API_VERSION for a in answers)


def test_an_action_whose_resource_is_deleted_meanwhile_still_answers(emulator: Any) -> None:
    """The resource is read after the action for its ETag; a concurrent delete between the
    two leaves the answer without them, not a 404 for an action that happened."""
    from batchflow.emulator.http import routes
    from batchflow.emulator.http.base import Req

    req = Req(emulator.service, "POST", "/pools/gone/resize", ("gone",), {}, {}, b"", "", "")
    assert routes._after(req, req.core.pool) is None
