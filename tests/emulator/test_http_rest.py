"""The REST surface below the SDK: status codes, headers, error bodies that name the problem,
paging links, request limits. Raw (correctly signed) HTTP, so malformed input can be sent."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchflow.emulator.http import auth
from tests.emulator.http_helpers import API, JSON_TYPE, call


def values(resp: httpx.Response) -> dict[str, str]:
    return {v["key"]: v["value"] for v in resp.json().get("values", [])}


POOL = {
    "id": "p1",
    "vmSize": "standard_d2s_v3",
    "targetDedicatedNodes": 1,
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
}


def test_create_answers_201_with_the_headers_the_sdks_read(emulator: Any) -> None:
    resp = call(emulator, "POST", "/pools", body=POOL)
    assert resp.status_code == 201, resp.text
    assert resp.content == b""
    url = f"{emulator.url}/pools/p1"
    assert resp.headers["Location"] == url and resp.headers["DataServiceId"] == url
    assert resp.headers["ETag"].startswith("0x")
    assert email.utils.parsedate_to_datetime(resp.headers["Last-Modified"]) is not None
    assert resp.headers["request-id"]
    got = call(emulator, "GET", "/pools/p1")
    assert got.json()["url"] == url
    assert got.json()["odata.metadata"].startswith(f"{emulator.url}/$metadata#pools")
    assert got.headers["ETag"] == got.json()["eTag"]


@pytest.mark.parametrize(
    ("raw", "ctype", "code", "needle"),
    [
        (b'{"id": "p1", "vmSize": ', JSON_TYPE, "InvalidRequestBody", "line 1, column 24"),
        (b'{"id": "p1"}', "text/plain", "InvalidHeaderValue", "text/plain"),
        (b"[1, 2]", JSON_TYPE, "InvalidRequestBody", "JSON object"),
        (b"", JSON_TYPE, "InvalidRequestBody", "empty"),
    ],
)
def test_malformed_bodies_are_clear_400s(
    emulator: Any, raw: bytes, ctype: str, code: str, needle: str
) -> None:
    resp = call(emulator, "POST", "/pools", raw=raw, headers={"content-type": ctype})
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == code
    assert needle in json.dumps(resp.json())


@pytest.mark.parametrize(
    ("body", "code", "name"),
    [
        ({**POOL, "colour": "red"}, "InvalidRequestBody", "colour"),
        (
            {**POOL, "startTask": {"commandLine": "x", "bogus": 1}},
            "InvalidRequestBody",
            "startTask.bogus",
        ),
        ({**POOL, "targetDedicatedNodes": "two"}, "InvalidPropertyValue", "targetDedicatedNodes"),
        ({**POOL, "id": "has space"}, "InvalidPropertyValue", "id"),
        ({"id": "p1"}, "MissingRequiredProperty", "vmSize"),
        (
            {**POOL, "startTask": {"waitForSuccess": True}},
            "MissingRequiredProperty",
            "startTask.commandLine",
        ),
        (
            {**POOL, "mountConfiguration": [{"nfsMountConfiguration": {}}]},
            "MissingRequiredProperty",
            "mountConfiguration[0].nfsMountConfiguration.source",
        ),
        (
            {
                **POOL,
                "virtualMachineConfiguration": {
                    **POOL["virtualMachineConfiguration"],
                    "containerConfiguration": {"type": "dockerCompatible"},
                },
            },
            "InvalidPropertyValue",
            "virtualMachineConfiguration.containerConfiguration",
        ),
        ({**POOL, "resizeTimeout": "fifteen minutes"}, "InvalidPropertyValue", "resizeTimeout"),
    ],
)
def test_wrong_fields_are_named(emulator: Any, body: dict[str, Any], code: str, name: str) -> None:
    resp = call(emulator, "POST", "/pools", body=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == code
    assert values(resp)["PropertyName"] == name


def test_unsupported_fields_say_what_to_do_and_empty_ones_pass(emulator: Any) -> None:
    resp = call(emulator, "POST", "/pools", body={**POOL, "applicationPackageReferences": []})
    assert resp.status_code == 201, resp.text
    call(emulator, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
    task = {
        "id": "t1",
        "commandLine": "/bin/true",
        "containerSettings": {"imageName": "ubuntu:22.04"},
    }
    resp = call(emulator, "POST", "/jobs/j1/tasks", body=task)
    assert resp.status_code == 400
    assert values(resp)["PropertyName"] == "containerSettings"
    assert "does not support" in values(resp)["Reason"]
    assert "command line" in values(resp)["Reason"]


def test_a_job_needs_a_pool_id_or_an_auto_pool(emulator: Any) -> None:
    resp = call(emulator, "POST", "/jobs", body={"id": "j1", "poolInfo": {}})
    assert resp.status_code == 400
    assert values(resp)["PropertyName"] == "poolInfo.poolId"
    bad = {"id": "j1", "poolInfo": {"autoPoolSpecification": {"poolLifetimeOption": "forever"}}}
    resp = call(emulator, "POST", "/jobs", body=bad)
    assert resp.status_code == 400
    assert values(resp)["PropertyName"] == "poolInfo.autoPoolSpecification.poolLifetimeOption"
    spec = {"poolLifetimeOption": "Job", "pool": {"vmSize": "standard_d2s_v3"}}
    resp = call(
        emulator, "POST", "/jobs", body={"id": "j1", "poolInfo": {"autoPoolSpecification": spec}}
    )
    assert resp.status_code == 201, resp.text
    got = call(emulator, "GET", "/jobs/j1").json()["poolInfo"]["autoPoolSpecification"]
    assert got["poolLifetimeOption"] == "job"


def test_enum_values_are_accepted_in_any_case(emulator: Any) -> None:
    call(emulator, "POST", "/pools", body=POOL)
    body = {"id": "j1", "poolInfo": {"poolId": "p1"}, "onAllTasksComplete": "terminateJob"}
    assert call(emulator, "POST", "/jobs", body=body).status_code == 201
    assert call(emulator, "GET", "/jobs/j1").json()["onAllTasksComplete"] == "terminatejob"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "MissingRequiredQueryParameter"),
        ("api-version=2031-01-01", 400, "InvalidQueryParameterValue"),
        ("api-version=latest", 400, "InvalidQueryParameterValue"),
        ("api-version=2024-02-01.19.0", 200, None),
        ("api-version=2018-12-01.8.0", 200, None),
    ],
)
def test_api_versions_of_sdks_6_to_15_only(
    emulator: Any, query: str, status: int, code: str | None
) -> None:
    resp = call(emulator, "GET", "/pools", query)
    assert resp.status_code == status, resp.text
    if code:
        assert resp.json()["code"] == code
        assert "api-version" in json.dumps(resp.json())


def test_unknown_routes_and_verbs_get_batch_errors(emulator: Any) -> None:
    resp = call(emulator, "GET", "/nothing/here")
    assert resp.status_code == 404
    assert resp.json()["code"] == "ResourceNotFound"
    resp = call(emulator, "PUT", "/pools", body={})
    assert resp.status_code == 405
    assert resp.json()["code"] == "UnsupportedHttpVerb"
    # upgradeos left the API before 2025-06-01: no emulator version will implement it.
    resp = call(emulator, "POST", "/pools/p1/upgradeos", body={})
    assert resp.status_code == 404
    assert "does not implement POST /pools/p1/upgradeos" in resp.text


def test_request_ids_and_client_request_id_echo(emulator: Any) -> None:
    plain = call(emulator, "GET", "/pools", headers={"client-request-id": "abc-123"})
    assert plain.headers["request-id"] and "client-request-id" not in plain.headers
    asked = call(
        emulator,
        "GET",
        "/pools",
        headers={"client-request-id": "abc-123", "return-client-request-id": "true"},
    )
    assert asked.headers["client-request-id"] == "abc-123"
    assert asked.headers["request-id"] != plain.headers["request-id"]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        (API + "&maxresults=0", "maxresults"),
        (API + "&maxresults=1001", "maxresults"),
        (API + "&$select=id,%20", "$select"),
        (API + "&$orderby=id", "$orderby"),
    ],
)
def test_bad_list_options_are_named(emulator: Any, query: str, name: str) -> None:
    resp = call(emulator, "GET", "/pools", query)
    assert resp.status_code == 400, resp.text
    assert values(resp)["QueryParameterName"] == name


def test_next_link_is_absolute_and_repeats_the_options(emulator: Any) -> None:
    call(emulator, "POST", "/pools", body=POOL)
    call(emulator, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
    tasks = [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(5)]
    call(emulator, "POST", "/jobs/j1/addtaskcollection", body={"value": tasks})
    query = API + "&maxresults=2&$select=id,state&$filter=state%20ne%20%27x%27"
    first = call(emulator, "GET", "/jobs/j1/tasks", query)
    assert first.status_code == 200, first.text
    link = first.json()["odata.nextLink"]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == emulator.url
    options = parse_qs(parts.query)
    assert options["maxresults"] == ["2"] and options["$select"] == ["id,state"]
    assert options["$filter"] == ["state ne 'x'"] and options["api-version"] == ["2025-06-01"]
    assert [set(t) for t in first.json()["value"]] == [{"id", "state"}] * 2
    second = call(emulator, "GET", parts.path, parts.query)
    assert second.status_code == 200, second.text
    assert [t["id"] for t in second.json()["value"]] == ["t2", "t3"]


def test_task_collection_limits_are_413(emulator: Any) -> None:
    call(emulator, "POST", "/pools", body=POOL)
    call(emulator, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
    many = [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(101)]
    resp = call(emulator, "POST", "/jobs/j1/addtaskcollection", body={"value": many})
    assert resp.status_code == 413 and resp.json()["code"] == "RequestBodyTooLarge"
    big = [{"id": f"b{i}", "commandLine": "/bin/echo " + "x" * 12_000} for i in range(90)]
    resp = call(emulator, "POST", "/jobs/j1/addtaskcollection", body={"value": big})
    assert resp.status_code == 413 and resp.json()["code"] == "RequestBodyTooLarge"


def test_one_bad_task_in_a_collection_is_one_client_error(emulator: Any) -> None:
    call(emulator, "POST", "/pools", body=POOL)
    call(emulator, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
    tasks = [
        {"id": "ok1", "commandLine": "/bin/true"},
        {"id": "bad", "commandLine": 5},
        {"id": "ok2", "commandLine": "/bin/true"},
    ]
    resp = call(emulator, "POST", "/jobs/j1/addtaskcollection", body={"value": tasks})
    assert resp.status_code == 200, resp.text
    results = resp.json()["value"]
    assert [r["status"] for r in results] == ["success", "clienterror", "success"]
    assert results[1]["error"]["code"] == "InvalidPropertyValue"
    assert results[0]["location"] == f"{emulator.url}/jobs/j1/tasks/ok1"


def _completed_task(emu: Any) -> None:
    call(emu, "POST", "/pools", body=POOL)
    call(emu, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
    call(emu, "POST", "/jobs/j1/tasks", body={"id": "t1", "commandLine": "/bin/echo hi"})
    deadline = time.monotonic() + 30
    while call(emu, "GET", "/jobs/j1/tasks/t1").json()["state"] != "completed":
        assert time.monotonic() < deadline, "task did not complete"
        time.sleep(0.02)


def test_file_paths_cannot_leave_the_task_directory(emulator: Any) -> None:
    _completed_task(emulator)
    ok = call(emulator, "GET", "/jobs/j1/tasks/t1/files/stdout.txt")
    assert ok.status_code == 200 and ok.content == b"hi\n"
    # (unencoded "../" is resolved away by HTTP clients themselves, so only encoded forms)
    for path in ("..%2F..%2Fstate.db", "wd%2F..%2F..%2Fx", "%2Fetc%2Fpasswd", "wd/%2E%2E%2F%2E%2E"):
        resp = call(emulator, "GET", f"/jobs/j1/tasks/t1/files/{path}")
        assert resp.status_code == 400, (path, resp.text)
        assert resp.json()["code"] == "InvalidUri"
    missing = call(emulator, "GET", "/jobs/j1/tasks/t1/files/wd%2Fnope.txt")
    assert missing.status_code == 404 and missing.json()["code"] == "FileNotFound"


def test_file_ranges_and_properties(emulator: Any) -> None:
    _completed_task(emulator)
    part = call(
        emulator, "GET", "/jobs/j1/tasks/t1/files/stdout.txt", headers={"ocp-range": "bytes=1-1"}
    )
    assert part.status_code == 200 and part.content == b"i"
    bad = call(
        emulator, "GET", "/jobs/j1/tasks/t1/files/stdout.txt", headers={"ocp-range": "bytes=10-20"}
    )
    assert bad.status_code == 416
    head = call(emulator, "HEAD", "/jobs/j1/tasks/t1/files/stdout.txt")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == "3"
    assert head.headers["ocp-batch-file-isdirectory"] == "false"
    assert head.headers["ocp-batch-file-url"].endswith("/jobs/j1/tasks/t1/files/stdout.txt")
    for name in ("Last-Modified", "ocp-creation-time", "ocp-batch-file-mode"):
        assert head.headers[name]


def test_a_listing_survives_a_dangling_symlink(emulator: Any) -> None:
    _completed_task(emulator)
    call(
        emulator,
        "POST",
        "/jobs/j1/tasks",
        body={"id": "t2", "commandLine": "/bin/sh -c 'ln -s /nonexistent/x dangling'"},
    )
    deadline = time.monotonic() + 30
    while call(emulator, "GET", "/jobs/j1/tasks/t2").json()["state"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    resp = call(emulator, "GET", "/jobs/j1/tasks/t2/files", API + "&recursive=true")
    assert resp.status_code == 200, resp.text
    assert "wd/dangling" in {f["name"] for f in resp.json()["value"]}


def test_fault_operations_must_be_real_operation_ids(emulator: Any) -> None:
    resp = call(
        emulator,
        "POST",
        "/_emulator/faults",
        body={"errorRate": 1.0, "operations": ["Job_GetTaskCount"]},
    )
    assert resp.status_code == 400
    assert values(resp)["PropertyValue"] == "Job_GetTaskCount"
    assert "Job_GetTaskCounts" in values(resp)["Reason"]
    resp = call(emulator, "POST", "/_emulator/faults", body={"errorRate": 2})
    assert resp.status_code == 400 and values(resp)["PropertyName"] == "errorRate"
    assert call(emulator, "GET", "/pools").status_code == 200  # nothing was configured


class _BrokenState:
    """A state whose every call fails the way a bug would (the contract's other side)."""

    account_name = "devbatch"
    account_url = ""

    def __getattr__(self, name: str) -> Any:
        def broken(*args: object) -> object:
            raise RuntimeError("secret internal detail")

        return broken


def test_an_unexpected_failure_is_a_500_batch_error_without_a_trace() -> None:
    from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
    from batchflow.emulator.http.app import create_app

    app = create_app(_BrokenState(), DEV_ACCOUNT, DEV_KEY)  # type: ignore[arg-type]
    hdrs = {"ocp-date": email.utils.formatdate(usegmt=True)}
    hdrs["authorization"] = auth.authorization(
        "GET", "/pools/p1", API, hdrs, DEV_ACCOUNT, auth.decode_key(DEV_KEY)
    )

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:1") as c:
            return await c.get(f"/pools/p1?{API}", headers=hdrs)

    resp = asyncio.run(get())
    assert resp.status_code == 500
    assert resp.json()["code"] == "InternalError"
    assert "secret" not in resp.text and "Traceback" not in resp.text
    assert resp.headers["request-id"]


def test_older_sdk_field_names_and_unemulated_upload_headers(emulator: Any) -> None:
    old_style = {**POOL, "maxTasksPerNode": 3}  # the pre-2020 name of taskSlotsPerNode
    assert call(emulator, "POST", "/pools", body=old_style).status_code == 201
    assert call(emulator, "GET", "/pools/p1").json()["taskSlotsPerNode"] == 3
    call(emulator, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
    out = {
        "filePattern": "*.txt",
        "uploadOptions": {"uploadCondition": "taskSuccess"},
        "destination": {
            "container": {
                "containerUrl": "http://127.0.0.1:1/c?sig=x",
                "uploadHeaders": [{"name": "x-ms-blob-type"}],
            }
        },
    }
    resp = call(
        emulator,
        "POST",
        "/jobs/j1/tasks",
        body={"id": "t1", "commandLine": "/bin/true", "outputFiles": [out]},
    )
    assert resp.status_code == 400
    assert values(resp)["PropertyName"] == "outputFiles[0].destination.container.uploadHeaders"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "commandLine",
                    "constraints",
                    "maxTaskRetryCount",
                    "dependsOn",
                    "taskIds",
                    "outputFiles",
                    "value",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(body=_json_values)
def test_any_json_body_is_accepted_or_a_400_never_a_crash(body: object) -> None:
    from batchflow.emulator.errors import BatchServiceError
    from batchflow.emulator.http import validation

    for spec in (validation.TASK_ADD, validation.POOL_ADD, validation.JOB_ADD):
        try:
            checked = validation.validate(body, spec)
        except BatchServiceError as exc:
            assert exc.status == 400
        else:
            assert isinstance(checked, dict)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64) | st.just(b"[" * 100_000))
def test_any_bytes_are_parsed_or_a_400(raw: bytes) -> None:
    from batchflow.emulator.errors import BatchServiceError
    from batchflow.emulator.http.base import Req, json_body

    req = Req(
        state=None,
        method="POST",
        raw_path="/pools",
        params=(),
        query={},  # type: ignore[arg-type]
        headers={"content-type": JSON_TYPE},
        body=raw,
        base_url="http://x",
        api_version="2025-06-01",
    )
    try:
        json_body(req)
    except BatchServiceError as exc:
        assert exc.status == 400


@pytest.mark.parametrize(
    ("path", "query"),
    [("/pools", API + "&$expand=bogus"), ("/pools/p1/nodes", API + "&$expand=stats")],
)
def test_expand_is_stats_of_pools_jobs_and_tasks_only(emulator: Any, path: str, query: str) -> None:
    call(emulator, "POST", "/pools", body=POOL)
    resp = call(emulator, "GET", path, query)
    assert resp.status_code == 400, resp.text
    assert values(resp)["QueryParameterName"] == "$expand"
    assert call(emulator, "GET", "/pools/p1", API + "&$expand=stats").json()["stats"]["url"]
