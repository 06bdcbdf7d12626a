"""Client mistakes get the real service's 400s, never a 500 or a silently stored bad value;
stale or unparseable request dates are refused. Raw signed HTTP through the real emulator."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchflow.emulator.server import EmulatorServer
from tests.emulator.http_helpers import API, call

IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}
POOL = {"id": "p1", "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": IMAGE}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def error(resp: httpx.Response) -> tuple[int, str, dict[str, str]]:
    data = resp.json() if resp.content else {}
    values = {v["key"]: v["value"] for v in data.get("values", [])}
    return resp.status_code, str(data.get("code", "")), values


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One emulator with a pool p1 (no nodes) and a job j1 for the whole module: every case
    here is refused before it changes anything."""
    server = EmulatorServer(data_dir=tmp_path_factory.mktemp("hardening"), nodes_max=1)
    server.start()
    try:
        assert call(server, "POST", "/pools", raw=body(POOL)).status_code == 201
        job = {"id": "j1", "poolInfo": {"poolId": "p1"}}
        assert call(server, "POST", "/jobs", raw=body(job)).status_code == 201
        yield server
    finally:
        server.stop()


def _task(**extra: object) -> bytes:
    return body({"id": "t1", "commandLine": "/bin/true", **extra})


NUL = "\x00"
CASES = [
    # (method, path, query, raw body, status, code, named property or parameter)
    ("POST", "/pools", API, b"null", 400, "InvalidRequestBody", ""),
    ("POST", "/jobs", API, b"null", 400, "InvalidRequestBody", ""),
    ("POST", "/jobs/j1/tasks", API, b"null", 400, "InvalidRequestBody", ""),
    ("PUT", "/jobs/j1", API, b"null", 400, "InvalidRequestBody", ""),
    ("POST", "/_emulator/nodes/lose", "", b"null", 400, "InvalidRequestBody", ""),
    ("GET", "/jobs/j1/tasks/t1/files/a%00b", API, None, 400, "InvalidUri", ""),
    ("GET", "/pools/p1/nodes/n1/files/a%00b", API, None, 400, "InvalidUri", ""),
    ("GET", "/pools/p%00", API, None, 400, "InvalidUri", ""),
    ("GET", "/jobs", API + "&$skiptoken=garbage", None, 400, "InvalidQueryParameterValue", ""),
    ("GET", "/pools", API + "&$skiptoken=" + "9" * 31, None, 400, "", ""),
    ("GET", "/jobs/j1/tasks", API + "&$skiptoken=-1", None, 400, "InvalidQueryParameterValue", ""),
    (
        "GET",
        "/jobs/j1/tasks",
        API + "&$filter=" + "(" * 5000 + "id eq 'a'" + ")" * 5000,
        None,
        400,
        "InvalidQueryParameterValue",
        "",
    ),
    (
        "GET",
        "/jobs",
        API + "&$filter=" + " or ".join(["id eq 'a'"] * 2000),
        None,
        400,
        "InvalidQueryParameterValue",
        "",
    ),
    ("GET", "/jobs", API + "&$filter=priority eq " + "9" * 5000, None, 400, "", ""),
    (
        "POST",
        "/jobs/j1/tasks",
        API,
        _task(constraints={"maxWallClockTime": "P99999999999D"}),
        400,
        "InvalidPropertyValue",
        "constraints.maxWallClockTime",
    ),
    (
        "PATCH",
        "/jobs/j1",
        API,
        body({"constraints": {"maxWallClockTime": "P99999999999D"}}),
        400,
        "InvalidPropertyValue",
        "constraints.maxWallClockTime",
    ),
    ("POST", "/pools", API, body({**POOL, "id": "p2", "targetDedicatedNodes": -5}), 400,
     "InvalidPropertyValue", "targetDedicatedNodes"),
    ("POST", "/pools", API, body({**POOL, "id": "p2", "targetLowPriorityNodes": -3}), 400,
     "InvalidPropertyValue", "targetLowPriorityNodes"),
    ("POST", "/pools", API, body({**POOL, "id": "p2", "targetDedicatedNodes": 10**23}), 400,
     "InvalidPropertyValue", "targetDedicatedNodes"),
    ("POST", "/pools", API, body({**POOL, "id": "p2", "taskSlotsPerNode": 0}), 400,
     "InvalidPropertyValue", "taskSlotsPerNode"),
    ("POST", "/pools", API, body({**POOL, "id": "p2", "taskSlotsPerNode": -1}), 400,
     "InvalidPropertyValue", "taskSlotsPerNode"),
    ("POST", "/pools", API, body({**POOL, "id": "p2", "maxTasksPerNode": 257}), 400,
     "InvalidPropertyValue", "maxTasksPerNode"),
    ("POST", "/pools/p1/resize", API, body({"targetDedicatedNodes": -4}), 400,
     "InvalidPropertyValue", "targetDedicatedNodes"),
    ("PATCH", "/jobs/j1", API, body({"priority": 99999}), 400, "InvalidPropertyValue",
     "priority"),
    ("PATCH", "/jobs/j1", API, body({"priority": -1001}), 400, "InvalidPropertyValue",
     "priority"),
    ("PATCH", "/jobs/j1", API, body({"constraints": {"maxTaskRetryCount": -2}}), 400,
     "InvalidPropertyValue", "constraints.maxTaskRetryCount"),
    ("PATCH", "/jobs/j1", API, body({"maxParallelTasks": 0}), 400, "InvalidPropertyValue",
     "maxParallelTasks"),
    ("PATCH", "/jobs/j1", API, body({"maxParallelTasks": -2}), 400, "InvalidPropertyValue",
     "maxParallelTasks"),
    ("POST", "/jobs", API, body({"id": "j0", "poolInfo": {"poolId": "p1"}, "maxParallelTasks": 0}),
     400, "InvalidPropertyValue", "maxParallelTasks"),
    ("POST", "/jobs/j1/tasks", API, _task(commandLine=f"/bin/echo a{NUL}b"), 400,
     "InvalidPropertyValue", "commandLine"),
    ("POST", "/jobs/j1/tasks", API, _task(environmentSettings=[{"name": "A", "value": NUL}]),
     400, "InvalidPropertyValue", "environmentSettings[0].value"),
    ("POST", "/jobs/j1/tasks", API, _task(environmentSettings=[{"name": f"A{NUL}"}]),
     400, "InvalidPropertyValue", "environmentSettings[0].name"),
    ("POST", "/jobs/j1/tasks", API, _task(id=f"t{NUL}"), 400, "InvalidPropertyValue", "id"),
    ("POST", "/jobs/j1/tasks", API, _task(requiredSlots=0), 400, "InvalidPropertyValue",
     "requiredSlots"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "query", "raw", "status", "code", "name"),
    CASES,
    ids=[f"{i}-{c[0]}-{c[1][:30]}-{c[6] or c[5]}" for i, c in enumerate(CASES)],
)
def test_client_mistakes_are_400s_naming_the_problem(
    emu: Any,
    method: str,
    path: str,
    query: str,
    raw: bytes | None,
    status: int,
    code: str,
    name: str,
) -> None:
    got_status, got_code, values = error(call(emu, method, path, query, raw=raw))
    assert got_status == status, (got_code, values)
    if code:
        assert got_code == code, values
    if name:
        assert values.get("PropertyName") == name, values


def test_head_of_a_nul_file_path_is_a_bodiless_400(emu: Any) -> None:
    assert call(emu, "HEAD", "/jobs/j1/tasks/t1/files/a%00b").status_code == 400


def test_values_at_the_edges_of_the_ranges_are_accepted(emu: Any) -> None:
    pool = {**POOL, "id": "edges", "taskSlotsPerNode": 256, "targetDedicatedNodes": 0}
    assert call(emu, "POST", "/pools", raw=body(pool)).status_code == 201
    for priority in (-1000, 1000):
        assert call(emu, "PATCH", "/jobs/j1", raw=body({"priority": priority})).status_code == 200
    unlimited = {"constraints": {"maxWallClockTime": "P10675199DT2H48M5.4775807S"}}
    assert call(emu, "PATCH", "/jobs/j1", raw=body(unlimited)).status_code == 200
    retries = {"constraints": {"maxTaskRetryCount": -1}}
    assert call(emu, "PATCH", "/jobs/j1", raw=body(retries)).status_code == 200
    for parallel in (-1, 1):
        patch = body({"maxParallelTasks": parallel})
        assert call(emu, "PATCH", "/jobs/j1", raw=patch).status_code == 200


def test_max_parallel_tasks_zero_says_what_batch_accepts(emu: Any) -> None:
    raw = body({"maxParallelTasks": 0})
    status, code, values = error(call(emu, "PATCH", "/jobs/j1", raw=raw))
    assert (status, code) == (400, "InvalidPropertyValue")
    assert values.get("PropertyName") == "maxParallelTasks"
    assert values.get("Reason") == "Must be -1 or an integer from 1 to 2147483647."


FILTER_PARTS = st.sampled_from(["(", ")", " and ", " or ", "id eq 'x'", "'", "9" * 25, " "])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    filt=st.lists(FILTER_PARTS, max_size=80).map("".join),
    token=st.text(max_size=30),
    nodes=st.integers(min_value=-(10**25), max_value=10**25),
)
def test_list_options_and_counts_are_served_or_400_never_500(
    emu: Any, filt: str, token: str, nodes: int
) -> None:
    from urllib.parse import quote

    query = f"{API}&$filter={quote(filt)}&$skiptoken={quote(token)}"
    assert call(emu, "GET", "/jobs/j1/tasks", query).status_code in (200, 400)
    resize = call(emu, "POST", "/pools/p1/resize", raw=body({"targetDedicatedNodes": nodes}))
    assert resize.status_code == (202 if 0 <= nodes <= 10_000 else 400), resize.text
    if resize.status_code == 202:  # back to no nodes: the module's pool stays empty
        call(emu, "POST", "/pools/p1/resize", raw=body({"targetDedicatedNodes": 0}))


@pytest.mark.parametrize(
    ("date", "why"),
    [
        ("Mon, 01 Jan 2001 00:00:00 GMT", "out of range"),
        ("garbage", "not an RFC 1123 date"),
        (20 * 60, "out of range"),
        (-16 * 60, "out of range"),
    ],
    ids=["2001", "garbage", "20-min-ahead", "16-min-old"],
)
def test_a_request_dated_too_far_from_now_is_refused(emu: Any, date: str | int, why: str) -> None:
    # A skew is dated when the test runs, not when it is collected: a suite slowed to 12
    # minutes once ran "20 minutes ahead" when it had become 14 (CI saw 200).
    if isinstance(date, int):
        date = email.utils.formatdate(time.time() + date, usegmt=True)
    status, code, values = error(call(emu, "GET", "/pools/p1", headers={"ocp-date": date}))
    assert (status, code) == (403, "AuthenticationFailed")
    assert why in values["AuthenticationErrorDetail"]


def test_a_request_dated_within_fifteen_minutes_is_served(emu: Any) -> None:
    for skew in (-14 * 60, 14 * 60):
        date = email.utils.formatdate(time.time() + skew, usegmt=True)
        assert call(emu, "GET", "/pools/p1", headers={"ocp-date": date}).status_code == 200
