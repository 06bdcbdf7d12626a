"""The conformance check itself: it passes an answer as the API declares it and names each
kind of mismatch in one that is not (so the suite-wide check in conftest can fail)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchflow.emulator.http.recording import Exchange
from tests.openapi import conformance

API = "2025-06-01"
META = "https://x/$metadata#files"
FILE_LIST = {
    "odata.metadata": META,
    "value": [
        {
            "name": "stdout.txt",
            "url": "https://x/jobs/j/tasks/t/files/stdout.txt",
            "isDirectory": False,
            "properties": {
                "lastModified": "2025-01-01T00:00:00.000Z",
                "contentLength": "12",
                "contentType": "application/octet-stream",
            },
        }
    ],
}
LIST_HEADERS = {
    "request-id": "r",
    "ETag": "0x8D1",
    "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT",
}
COUNTS = {"active": 0, "running": 1, "completed": 2, "succeeded": 1, "failed": 1}


def exchange(
    method: str,
    pattern: str,
    status: int,
    body: Any = None,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> Exchange:
    raw = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return Exchange(
        operation="Test",
        method=method,
        pattern=tuple(pattern.split("/")),
        api_version=kw.get("api_version", API),
        query=kw.get("query", {}),
        request_headers=kw.get("request_headers", {}),
        status=status,
        headers=LIST_HEADERS if headers is None else headers,
        body=raw,
    )


def test_an_answer_as_declared_passes() -> None:
    assert conformance.problems(exchange("GET", "jobs/{}/tasks/{}/files", 200, FILE_LIST)) == []
    counts = {"odata.metadata": META, "taskCounts": COUNTS, "taskSlotCounts": COUNTS}
    assert conformance.problems(exchange("GET", "jobs/{}/taskcounts", 200, counts)) == []


def _one(ex: Exchange) -> str:
    found = conformance.problems(ex)
    assert len(found) == 1, found
    return found[0]


def test_an_int64_sent_as_a_number_fails() -> None:
    body = json.loads(json.dumps(FILE_LIST))
    body["value"][0]["properties"]["contentLength"] = 12
    assert "contentLength" in _one(exchange("GET", "jobs/{}/tasks/{}/files", 200, body))


def test_a_missing_declared_header_fails() -> None:
    headers = {"request-id": "r", "ETag": "0x8D1"}
    problem = _one(exchange("GET", "jobs/{}/tasks/{}/files", 200, FILE_LIST, headers))
    assert "Last-Modified" in problem


def test_a_status_the_operation_does_not_declare_fails() -> None:
    headers = {**LIST_HEADERS, "DataServiceId": "u"}
    problem = _one(exchange("POST", "jobs/{}/tasks/{}/terminate", 202, b"", headers))
    assert "status 202 is not declared" in problem


def test_a_missing_required_property_or_wrong_enum_or_type_fails() -> None:
    counts = {"odata.metadata": META, "taskCounts": COUNTS}
    assert "taskSlotCounts" in _one(exchange("GET", "jobs/{}/taskcounts", 200, counts))
    body = json.loads(json.dumps(FILE_LIST))
    body["value"][0]["isDirectory"] = "no"
    assert "isDirectory" in _one(exchange("GET", "jobs/{}/tasks/{}/files", 200, body))
    node = {"odata.metadata": META, "id": "n", "state": "sleeping"}
    found = conformance.problems(exchange("GET", "pools/{}/nodes/{}", 200, node))
    assert any("'sleeping' is not one of" in p for p in found), found


def test_a_field_the_api_does_not_have_and_a_missing_odata_metadata_fail() -> None:
    counts = {"odata.metadata": META, "taskCounts": COUNTS, "taskSlotCounts": COUNTS, "x": 1}
    assert "'x' was unexpected" in _one(exchange("GET", "jobs/{}/taskcounts", 200, counts))
    bare = {"taskCounts": COUNTS, "taskSlotCounts": COUNTS}
    assert "odata.metadata" in _one(exchange("GET", "jobs/{}/taskcounts", 200, bare))


def test_a_client_request_id_asked_for_must_be_echoed() -> None:
    asked = {"return-client-request-id": "true", "client-request-id": "abc"}
    ex = exchange("GET", "jobs/{}/tasks/{}/files", 200, FILE_LIST, request_headers=asked)
    assert "client-request-id" in _one(ex)


def test_an_error_answer_is_a_batch_error() -> None:
    error = {"odata.metadata": META, "code": "JobNotFound", "message": {"value": "m"}}
    headers = {"request-id": "r"}
    assert conformance.problems(exchange("GET", "jobs/{}", 404, error, headers)) == []
    bad = {"odata.metadata": META, "code": 404}
    assert "code" in _one(exchange("GET", "jobs/{}", 404, bad, headers))


@pytest.mark.parametrize("version", ["2024-07-01.20.0", "2020-03-01.11.0"])
def test_older_api_versions_are_not_checked_against_2025(version: str) -> None:
    assert (
        conformance.problems(
            exchange("GET", "jobs/{}/taskcounts", 200, COUNTS, {}, api_version=version)
        )
        == []
    )


def test_every_route_of_the_emulator_is_an_operation_of_the_api() -> None:
    """Every route but those of older api-versions only, which the 2025-06-01 file lacks."""
    from batchflow.emulator.http.app import BATCH_ROUTES, OLDER_API_ONLY

    missing = [r.op for r in BATCH_ROUTES if conformance.operation_for(r.method, r.pattern) is None]
    assert sorted(missing) == sorted(OLDER_API_ONLY)


def test_answers_of_another_process_are_read_whole_lines_once(tmp_path: Any) -> None:
    from tests.openapi.answers import Answers

    bad = exchange("GET", "jobs/{}/tasks/{}/files", 200, {"value": []}, {"request-id": "r"})
    line = json.dumps(bad.to_json()) + "\n"
    (tmp_path / "41.jsonl").write_text(line + line[:20])  # the second still being written
    answers = Answers(tmp_path)
    taken = answers.take()
    assert taken == [bad]
    assert len(conformance.problems(taken[0])) == 3  # ETag, Last-Modified, odata.metadata
    with (tmp_path / "41.jsonl").open("a") as f:
        f.write(line[20:])
    assert answers.take() == [bad] and answers.take() == []


def test_an_action_on_a_resource_without_an_etag_still_answers_with_one() -> None:
    """A handler other engineers add for a node action (``done(202, None, url)``) answers
    with the ETag, Last-Modified and DataServiceId that Nodes_RebootNode & co declare."""
    from batchflow.emulator.http.base import done

    resp = done(202, None, "https://x/pools/p/nodes/n")
    headers = {**dict(resp.headers), "request-id": "r"}
    reboot = exchange("POST", "pools/{}/nodes/{}/reboot", 202, b"", headers)
    assert conformance.problems(reboot) == []


def test_a_recorded_answer_keeps_no_credential(tmp_path: Any) -> None:
    """Answers of another process go to a file: the request's signature must not."""
    from batchflow.emulator.http import recording
    from batchflow.emulator.server import EmulatorServer
    from tests.emulator.http_helpers import call

    seen: list[Exchange] = []
    stop = recording.add(seen.append)
    try:
        with EmulatorServer(data_dir=tmp_path, nodes_max=1) as emu:
            call(emu, "GET", "/pools", headers={"client-request-id": "c1"})
    finally:
        stop()
    assert seen and set(seen[0].request_headers) == {"client-request-id"}
    assert "SharedKey" not in json.dumps(seen[0].to_json())
