"""The wire of the job schedule, job disable / enable and preparation-status operations, below
the SDK: statuses and headers as the 2025-06-01 definition declares them, and every response
body valid against its schema in the OpenAPI extract (no property the definition lacks)."""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from batchflow.emulator import shapes
from tests.emulator.http_helpers import API, call

_EXTRACT = Path("/work/shared/reference/batch-openapi-2025-06-01.extract.json")
POOL = {
    "id": "p1",
    "vmSize": "standard_d2s_v3",
    "targetDedicatedNodes": 1,
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
}
SCHEDULE = {
    "id": "s1",
    "schedule": {"doNotRunUntil": "2100-01-01T00:00:00Z", "recurrenceInterval": "PT1H"},
    "jobSpecification": {"poolInfo": {"poolId": "p1"}, "priority": 3},
    "metadata": [{"name": "a", "value": "b"}],
}


@cache
def _strict_definitions() -> dict[str, Any]:
    if not _EXTRACT.exists():
        return {}
    return dict(_strict(json.loads(_EXTRACT.read_text())["definitions"]))


def _strict(schema: Any) -> Any:
    """The schema with additionalProperties false on every object that lists properties."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _validator(definition: str) -> jsonschema.Draft4Validator | None:
    defs = _strict_definitions()
    if not defs:  # the reference is not on this machine: nothing to check against
        return None
    return jsonschema.Draft4Validator({"definitions": defs, "$ref": f"#/definitions/{definition}"})


def conforms(resp: httpx.Response, definition: str) -> None:
    """The body is a valid ``definition`` (its odata.metadata aside)."""
    validator = _validator(definition)
    if validator is None:
        return
    body = {k: v for k, v in resp.json().items() if k != "odata.metadata"}
    for item in body.get("value", []):
        item.pop("odata.metadata", None)
    validator.validate(body)


def _headers(resp: httpx.Response, *names: str) -> None:
    for name in ("request-id", *names):
        assert resp.headers.get(name), f"{name} missing: {dict(resp.headers)}"


def test_schedule_operations_on_the_wire(emulator: Any) -> None:
    assert call(emulator, "POST", "/pools", body=POOL).status_code == 201
    resp = call(emulator, "POST", "/jobschedules", body=SCHEDULE)
    assert resp.status_code == 201, resp.text
    _headers(resp, "ETag", "Last-Modified", "DataServiceId")

    resp = call(emulator, "GET", "/jobschedules/s1")
    assert resp.status_code == 200
    _headers(resp, "ETag", "Last-Modified")
    conforms(resp, "BatchJobSchedule")
    assert resp.json()["jobSpecification"] == SCHEDULE["jobSpecification"]
    assert resp.json()["executionInfo"]["nextRunTime"].startswith("2100-01-01T00:00:00")
    resp = call(emulator, "GET", "/jobschedules/s1", f"{API}&$expand=stats")
    conforms(resp, "BatchJobSchedule")
    assert resp.json()["stats"]["numSucceededTasks"] == "0"
    assert call(emulator, "HEAD", "/jobschedules/s1").status_code == 200
    assert call(emulator, "HEAD", "/jobschedules/nope").status_code == 404
    resp = call(emulator, "GET", "/jobschedules", f"{API}&$filter=state eq 'active'")
    conforms(resp, "BatchJobScheduleListResult")
    assert [s["id"] for s in resp.json()["value"]] == ["s1"]
    resp = call(emulator, "GET", "/jobschedules", f"{API}&$expand=stats")
    conforms(resp, "BatchJobScheduleListResult")
    assert resp.json()["value"][0]["stats"]["numFailedTasks"] == "0"
    resp = call(emulator, "GET", "/jobschedules", f"{API}&$expand=tasks")
    assert resp.status_code == 400

    for method, body in (("PATCH", {"metadata": []}), ("PUT", {**SCHEDULE, "metadata": []})):
        resp = call(emulator, method, "/jobschedules/s1", body=body)
        assert resp.status_code == 200, resp.text
        _headers(resp, "ETag", "Last-Modified", "DataServiceId")
    for action, status in (("disable", 204), ("enable", 204), ("terminate", 202)):
        resp = call(emulator, "POST", f"/jobschedules/s1/{action}")
        assert resp.status_code == status, resp.text
        _headers(resp, "ETag", "Last-Modified", "DataServiceId")
    resp = call(emulator, "GET", "/jobschedules/s1/jobs")
    assert resp.status_code == 200
    conforms(resp, "BatchJobListResult")
    assert call(emulator, "DELETE", "/jobschedules/s1").status_code == 202
    resp = call(emulator, "GET", "/jobschedules/nope/jobs")
    assert (resp.status_code, resp.json()["code"]) == (404, "JobScheduleNotFound")


def test_a_schedule_request_is_checked(emulator: Any) -> None:
    no_spec = {"id": "s2", "schedule": {}}
    resp = call(emulator, "POST", "/jobschedules", body=no_spec)
    assert resp.status_code == 400 and resp.json()["code"] == "MissingRequiredProperty"
    bad_time = {**SCHEDULE, "id": "s3", "schedule": {"doNotRunUntil": "tomorrow"}}
    resp = call(emulator, "POST", "/jobschedules", body=bad_time)
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidPropertyValue"
    pool = {**{k: v for k, v in POOL.items() if k != "id"}, "vmSize": "standard_nope"}
    auto = {"poolLifetimeOption": "jobschedule", "pool": pool}
    bad_size = {
        **SCHEDULE,
        "id": "s4",
        "jobSpecification": {"poolInfo": {"autoPoolSpecification": auto}},
    }
    resp = call(emulator, "POST", "/jobschedules", body=bad_size)
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidPropertyValue"
    assert call(emulator, "GET", "/jobschedules").json()["value"] == []
    resp = call(emulator, "POST", "/jobs/nope/disable", body={"disableTasks": "sometimes"})
    assert resp.status_code == 400


def test_job_disable_enable_and_preparation_status_on_the_wire(emulator: Any) -> None:
    assert call(emulator, "POST", "/pools", body=POOL).status_code == 201
    job = {"id": "j1", "poolInfo": {"poolId": "p1"}, "jobPreparationTask": {"commandLine": "true"}}
    assert call(emulator, "POST", "/jobs", body=job).status_code == 201
    task = {"id": "t1", "commandLine": "true"}
    assert call(emulator, "POST", "/jobs/j1/tasks", body=task).status_code == 201
    deadline = time.monotonic() + 15
    while call(emulator, "GET", "/jobs/j1/tasks/t1").json()["state"] != "completed":
        assert time.monotonic() < deadline, "the task did not complete"
        time.sleep(0.05)
    resp = call(emulator, "GET", "/jobs/j1/jobpreparationandreleasetaskstatus")
    assert resp.status_code == 200
    conforms(resp, "BatchJobPreparationAndReleaseTaskStatusListResult")
    assert len(resp.json()["value"]) == 1

    resp = call(emulator, "POST", "/jobs/j1/disable", body={"disableTasks": "requeue"})
    assert resp.status_code == 202, resp.text
    _headers(resp, "ETag", "Last-Modified", "DataServiceId")
    deadline = time.monotonic() + 15
    while call(emulator, "GET", "/jobs/j1").json()["state"] != "disabled":
        assert time.monotonic() < deadline, "the job was not disabled"
        time.sleep(0.05)
    conforms(call(emulator, "GET", "/jobs/j1"), "BatchJob")
    resp = call(emulator, "POST", "/jobs/j1/enable")
    assert resp.status_code == 202
    _headers(resp, "ETag", "Last-Modified", "DataServiceId")
    assert call(emulator, "GET", "/jobs/j1").json()["state"] == "active"


def test_a_schedule_with_an_auto_pool_shows_only_the_wire_fields(emulator: Any) -> None:
    pool = {k: v for k, v in POOL.items() if k != "id"}
    auto = {"autoPoolIdPrefix": "w", "poolLifetimeOption": "jobschedule", "pool": pool}
    body = {
        "id": "sa",
        "schedule": {},
        "jobSpecification": {"poolInfo": {"autoPoolSpecification": auto}},
    }
    assert call(emulator, "POST", "/jobschedules", body=body).status_code == 201
    deadline = time.monotonic() + 15
    while not call(emulator, "GET", "/jobschedules/sa/jobs").json()["value"]:
        assert time.monotonic() < deadline, "no job was made"
        time.sleep(0.05)
    conforms(call(emulator, "GET", "/jobschedules/sa"), "BatchJobSchedule")
    conforms(call(emulator, "GET", "/jobschedules"), "BatchJobScheduleListResult")
    job = call(emulator, "GET", "/jobs/sa:job-1")
    conforms(job, "BatchJob")
    assert job.json()["executionInfo"]["poolId"].startswith("w_")


def test_a_clock_too_fast_to_keep_dates_is_refused(emulator: Any) -> None:
    """At 1e308 emulated seconds a second the clock leaves the dates Python can write at once:
    the schedules' thread died of it (OverflowError) and took the emulator down."""
    body = {
        "id": "fast",
        "schedule": {"recurrenceInterval": "PT1M"},
        "jobSpecification": {"poolInfo": {"poolId": "nopool"}},
    }
    assert call(emulator, "POST", "/jobschedules", body=body).status_code == 201
    refused = call(emulator, "POST", "/_emulator/clock", body={"speed": 1e308})
    assert refused.status_code == 400, refused.text
    assert "speed" in refused.text
    time.sleep(1)  # the schedules' thread looks at least every 0.25 s
    assert call(emulator, "GET", "/jobschedules/fast").status_code == 200
    assert call(emulator, "DELETE", "/jobschedules/fast").status_code == 202


def test_an_interval_too_long_is_refused_for_what_it_is(emulator: Any) -> None:
    body = {
        "id": "long",
        "schedule": {"recurrenceInterval": "P20Y"},
        "jobSpecification": {"poolInfo": {"poolId": "nopool"}},
    }
    refused = call(emulator, "POST", "/jobschedules", body=body)
    assert refused.status_code == 400, refused.text
    assert "minimum" not in refused.text and "10 years" in refused.text


def test_years_and_months_are_durations_too(emulator: Any) -> None:
    """isodate reads P1M as a Duration whose total_seconds() leaves out years and months: a
    monthly schedule was refused as shorter than a minute (and a retentionTime of P1M meant
    none). .NET, which the service runs on, reads a year as 365 days and a month as 30."""
    assert shapes.seconds("P1M") == 30 * 86400
    assert shapes.seconds("P1Y2M3DT4H") == (365 + 60 + 3) * 86400 + 4 * 3600
    body = {
        "id": "monthly",
        "schedule": {"recurrenceInterval": "P1M"},
        "jobSpecification": {"poolInfo": {"poolId": "nopool"}},
    }
    assert call(emulator, "POST", "/jobschedules", body=body).status_code == 201
    assert call(emulator, "DELETE", "/jobschedules/monthly").status_code == 202
