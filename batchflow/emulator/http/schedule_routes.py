"""Job schedule routes, job disable / enable and the job preparation and release task status:
parse, call the state, serialize. No semantics here (``state/schedules.py``,
``state/job_control.py``)."""

from __future__ import annotations

import dataclasses

from starlette.responses import Response

from batchflow.emulator import errors
from batchflow.emulator.http import odata, validation
from batchflow.emulator.http.base import (
    JSON_TYPE,
    Req,
    Route,
    check_conditions,
    checked_body,
    created,
    done,
    dumps,
    entity,
    has_conditions,
    json_body,
    listing,
    route,
    seg,
    snapshot_headers,
)
from batchflow.emulator.kinds import Json
from batchflow.emulator.state import job_control, schedules
from batchflow.emulator.state.filter import filter_docs


def _schedule_url(req: Req, schedule_id: str) -> str:
    return f"{req.base_url}/jobschedules/{seg(schedule_id)}"


def _job_url(req: Req, job_id: str) -> str:
    return f"{req.base_url}/jobs/{seg(job_id)}"


def _flag(req: Req, name: str) -> None:
    value = req.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise errors.invalid_query_parameter(name, value, "Expected true or false.")


# --- job schedules ---------------------------------------------------------------------------
def schedule_add(req: Req) -> Response:
    doc = schedules.create_schedule(req.core, checked_body(req, validation.JOB_SCHEDULE_ADD))
    return created(doc, _schedule_url(req, str(doc["id"])))


def _expand_stats(req: Req) -> tuple[Req, bool]:
    """``$expand=stats`` taken off the request (the only expansion a schedule has)."""
    expand = req.query.get("$expand")
    if expand is None:
        return req, False
    if expand.strip().lower() != "stats":
        raise errors.invalid_query_parameter("$expand", expand, "Only 'stats' can be expanded.")
    query = {k: v for k, v in req.query.items() if k != "$expand"}
    return dataclasses.replace(req, query=query), True


def schedule_list(req: Req) -> Response:
    req, stats = _expand_stats(req)
    q = odata.parse_list_query(req.query)
    page = schedules.list_schedules(req.core, q.filter, q.token, q.limit)
    items = [
        schedules.with_stats(req.core, d, _schedule_url(req, str(d["id"]))) if stats else d
        for d in page.items
    ]
    page = dataclasses.replace(page, items=[schedules.public(d) for d in items])
    extra = {"$expand": "stats"} if stats else None
    return listing(req, q, page, "jobschedules", lambda s: _schedule_url(req, str(s["id"])), extra)


def _schedule(req: Req) -> Json:
    doc = schedules.get_schedule(req.core, req.params[0])
    check_conditions(req, doc)
    return doc


def schedule_get(req: Req) -> Response:
    doc = _schedule(req)
    if req.is_head:
        return done(200, doc)
    url = _schedule_url(req, str(doc["id"]))
    req, stats = _expand_stats(req)
    if stats:
        doc = schedules.with_stats(req.core, doc, url)
    return entity(req, schedules.public(doc), "jobschedules", url)


def schedule_delete(req: Req) -> Response:
    if has_conditions(req):
        _schedule(req)
    _flag(req, "force")  # checked, then moot: no local node delays a deletion
    schedules.delete_schedule(req.core, req.params[0])
    return done(202)


def _schedule_update(req: Req, spec: validation.Obj | validation.Body, replace: bool) -> Response:
    body = checked_body(req, spec)
    if has_conditions(req):
        _schedule(req)
    doc = schedules.update_schedule(req.core, req.params[0], body, replace=replace)
    return done(200, doc, _schedule_url(req, req.params[0]))


def schedule_patch(req: Req) -> Response:
    return _schedule_update(req, validation.JOB_SCHEDULE_PATCH, replace=False)


def schedule_update(req: Req) -> Response:
    return _schedule_update(req, validation.JOB_SCHEDULE_UPDATE, replace=True)


def _schedule_action(req: Req, status: int) -> Response:
    json_body(req, optional=True)  # none is needed; one given must be well-formed
    if has_conditions(req):
        _schedule(req)
    return done(
        status, schedules.get_schedule(req.core, req.params[0]), _schedule_url(req, req.params[0])
    )


def schedule_disable(req: Req) -> Response:
    if has_conditions(req):
        _schedule(req)
    schedules.disable_schedule(req.core, req.params[0])
    return _schedule_action(req, 204)


def schedule_enable(req: Req) -> Response:
    if has_conditions(req):
        _schedule(req)
    schedules.enable_schedule(req.core, req.params[0])
    return _schedule_action(req, 204)


def schedule_terminate(req: Req) -> Response:
    if has_conditions(req):
        _schedule(req)
    _flag(req, "force")
    schedules.terminate_schedule(req.core, req.params[0])
    return _schedule_action(req, 202)


def schedule_jobs(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    page = schedules.list_schedule_jobs(req.core, req.params[0], q.filter, q.token, q.limit)
    return listing(req, q, page, "jobs", lambda j: _job_url(req, str(j["id"])))


# --- job disable / enable, preparation and release status ------------------------------------
def _job(req: Req) -> Json:
    job = req.core.job(req.params[0])
    check_conditions(req, job)
    return job


def job_disable(req: Req) -> Response:
    body = checked_body(req, validation.JOB_DISABLE)
    if has_conditions(req):
        _job(req)
    job_control.disable_job(req.core, req.params[0], str(body["disableTasks"]))
    return done(202, req.core.job(req.params[0]), _job_url(req, req.params[0]))


def job_enable(req: Req) -> Response:
    json_body(req, optional=True)
    if has_conditions(req):
        _job(req)
    job_control.enable_job(req.core, req.params[0])
    return done(202, req.core.job(req.params[0]), _job_url(req, req.params[0]))


def job_prep_release_status(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    found = job_control.preparation_and_release_status(req.core, req.params[0])
    rows = [{**d, "id": d["nodeId"], "state": ""} for d in found]
    page = filter_docs(rows, q.filter, {"nodeId": "id"}, int(q.token or 0), q.limit)
    items = [{k: v for k, v in d.items() if k not in ("id", "state")} for d in page.items]
    body: Json = {
        "odata.metadata": f"{req.base_url}/$metadata"
        "#Microsoft.Azure.Batch.Protocol.Entities.JobPreparationAndReleaseTaskExecutionInformation",
        "value": [odata.project(item, q.select) for item in items],
    }
    link = odata.next_link(req.base_url, req.raw_path, req.api_version, q, page.next_token)
    if link:
        body["odata.nextLink"] = link
    return Response(dumps(body), 200, snapshot_headers(), media_type=JSON_TYPE)


# --- the control surface: run a schedule now ---------------------------------------------------
def control_run_schedule(req: Req) -> Response:
    body = checked_body(req, validation.CONTROL_SCHEDULE)
    doc = req.core.schedules.run_now(str(body["jobScheduleId"]))
    info = doc["executionInfo"]
    return Response(
        dumps({"jobScheduleId": doc["id"], "executionInfo": info}), 200, media_type=JSON_TYPE
    )


CONTROL_ROUTES: tuple[Route, ...] = (
    route("POST", "_emulator/schedules/run", "Control_RunJobSchedule", control_run_schedule),
)
