"""What one client can make the emulator store: strings as long as Batch allows and no longer,
JSON nested no deeper than a real body, integers that fit, text that can be encoded, ids without
a trailing newline. Every refusal is a 400 before anything is stored; a document stored by an
older version that cannot be read any more does not stop the emulator from starting."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchflow.emulator.server import EmulatorServer
from tests.emulator.http_helpers import call

IMAGE = {
    "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
}
POOL = {"id": "p1", "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": IMAGE}


def _error(resp: httpx.Response) -> tuple[int, str, dict[str, str]]:
    data = resp.json() if resp.content else {}
    values = {v["key"]: v["value"] for v in data.get("values", [])}
    return resp.status_code, str(data.get("code", "")), values


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = EmulatorServer(data_dir=tmp_path_factory.mktemp("bounds"), nodes_max=1)
    server.start()
    try:
        assert call(server, "POST", "/pools", body=POOL).status_code == 201
        job = {"id": "j1", "poolInfo": {"poolId": "p1"}}
        assert call(server, "POST", "/jobs", body=job).status_code == 201
        yield server
    finally:
        server.stop()


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _task(**extra: object) -> str:
    return json.dumps({"id": "t1", "commandLine": "/bin/true", **extra})


DIGITS = "9" * 5000
CASES = [
    # (path, raw JSON text, code, PropertyName or "")
    ("/pools", json.dumps(POOL)[:-1] + ', "id": "p9", "upgradePolicy": ' + _nested(980) + "}",
     "InvalidRequestBody", ""),
    ("/pools", json.dumps({**POOL, "id": "p9"})[:-1] + ', "upgradePolicy": ' + _nested(40) + "}",
     "InvalidRequestBody", ""),
    ("/jobs/j1/tasks", '{"id":"t1","a":' + "[" * 100_000, "InvalidRequestBody", ""),
    ("/pools", json.dumps({**POOL, "id": "p9"})[:-1] + ', "upgradePolicy": {"n": ' + DIGITS + "}}",
     "InvalidPropertyValue", "upgradePolicy.n"),
    ("/jobs/j1/tasks", _task(requiredSlots=int(DIGITS[:30])), "InvalidPropertyValue",
     "requiredSlots"),
    ("/pools", json.dumps({**POOL, "id": "p9"})[:-1] + ', "upgradePolicy": {"n": 1e999}}',
     "InvalidRequestBody", ""),
    ("/pools", json.dumps({**POOL, "id": "p9"})[:-1] + ', "upgradePolicy": {"n": NaN}}',
     "InvalidRequestBody", ""),
    ("/jobs/j1/tasks", _task(displayName="x" * 1025), "InvalidPropertyValue", "displayName"),
    ("/jobs", json.dumps({"id": "j9", "poolInfo": {"poolId": "p1"}, "displayName": "x" * 1025}),
     "InvalidPropertyValue", "displayName"),
    ("/pools", json.dumps({**POOL, "id": "p9", "displayName": "x" * 1025}),
     "InvalidPropertyValue", "displayName"),
    ("/jobs/j1/tasks", _task(commandLine="x" * 32_769), "InvalidPropertyValue", "commandLine"),
    ("/jobs/j1/tasks", _task(environmentSettings=[{"name": "A", "value": "v" * 40_000}]),
     "InvalidPropertyValue", "environmentSettings[0].value"),
    ("/pools", json.dumps({**POOL, "id": "p9", "upgradePolicy": {"mode": "m" * 40_000}}),
     "InvalidPropertyValue", "upgradePolicy.mode"),
    ("/jobs/j1/tasks", '{"id":"t1","commandLine":"/bin/true","displayName":"a\\ud800b"}',
     "InvalidPropertyValue", "displayName"),
    ("/jobs/j1/tasks", '{"id":"t1","commandLine":"/bin/true","displayName":"\\udc00"}',
     "InvalidPropertyValue", "displayName"),
    ("/jobs/j1/tasks", '{"id":"t1","commandLine":"/bin/true","\\ud800":"x"}',
     "InvalidRequestBody", ""),
    ("/jobs/j1/tasks", _task(id="t1\n"), "InvalidPropertyValue", "id"),
    ("/jobs", json.dumps({"id": "j9\n", "poolInfo": {"poolId": "p1"}}), "InvalidPropertyValue",
     "id"),
    ("/pools", json.dumps({**POOL, "id": "p9\n"}), "InvalidPropertyValue", "id"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "text", "code", "name"),
    CASES,
    ids=[f"{i}-{c[0][1:]}-{c[3] or c[2]}" for i, c in enumerate(CASES)],
)
def test_what_batch_would_not_store_is_a_400(
    emu: Any, path: str, text: str, code: str, name: str
) -> None:
    status, got_code, values = _error(call(emu, "POST", path, raw=text.encode()))
    assert (status, got_code) == (400, code), values
    if name:
        assert values.get("PropertyName") == name, values


def test_nothing_refused_was_stored_and_listings_still_answer(emu: Any) -> None:
    for path in ("/pools", "/jobs", "/jobs/j1/tasks"):
        resp = call(emu, "GET", path)
        assert resp.status_code == 200, resp.text
        ids = [item["id"] for item in resp.json()["value"]]
        assert ids == {"/pools": ["p1"], "/jobs": ["j1"], "/jobs/j1/tasks": []}[path]


def test_values_at_the_limits_are_stored(emu: Any) -> None:
    task = {
        "id": "t" * 64,
        "displayName": "\U0001f600" + "x" * 1023,  # a pair of surrogates in JSON is one character
        "commandLine": "/bin/true " + "x" * (32_768 - 10),
    }
    raw = json.dumps(task).encode()  # ensure_ascii: the emoji travels as \ud83d\ude00
    assert b"\\ud83d\\ude00" in raw
    assert call(emu, "POST", "/jobs/j1/tasks", raw=raw).status_code == 201
    # The pool identity of older api-versions is stored as sent: the one free-form object.
    pool = {**POOL, "id": "p-deep", "identity": json.loads(_nested(20))}
    pool["identity"]["n"] = 2**63 - 1
    assert call(emu, "POST", "/pools", body=pool).status_code == 201
    got = call(emu, "GET", f"/jobs/j1/tasks/{'t' * 64}").json()
    assert got["displayName"] == task["displayName"]
    assert call(emu, "GET", "/jobs/j1/tasks").status_code == 200
    assert call(emu, "DELETE", "/pools/p-deep").status_code == 202
    assert call(emu, "DELETE", f"/jobs/j1/tasks/{'t' * 64}").status_code == 200


def test_a_stored_document_too_deep_to_read_does_not_stop_start_up(tmp_path: Path) -> None:
    """A pool stored by an older version with a 980-deep ``upgradePolicy``: start-up skips it
    (and logs it) instead of failing on RecursionError for ever."""
    data = tmp_path / "data"
    with EmulatorServer(data_dir=data, nodes_max=1) as first:
        assert call(first, "POST", "/pools", body=POOL).status_code == 201
        assert call(first, "POST", "/pools", body={**POOL, "id": "p2"}).status_code == 201
    deep = json.dumps({**POOL, "id": "p2"})[:-1] + ', "upgradePolicy": ' + _nested(980) + "}"
    with sqlite3.connect(data / "state.db") as db:
        db.execute("UPDATE pools SET doc = ? WHERE id = 'p2'", (deep,))
    with EmulatorServer(data_dir=data, nodes_max=1) as second:
        resp = call(second, "GET", "/pools")
        assert resp.status_code == 200, resp.text
        assert [p["id"] for p in resp.json()["value"]] == ["p1"]
    assert (data / "quarantine" / "pool-p2.json").read_text() == deep
