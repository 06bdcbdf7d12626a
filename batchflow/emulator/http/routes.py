"""Pool, node, job and task routes: parse, call the state, serialize. No semantics here.

Each handler is a plain function of a ``Req`` returning a Response; ``app`` runs them in worker
threads, since the state does blocking SQLite and process work under its own lock.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from batchflow.emulator import errors
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.http import odata, validation, versions
from batchflow.emulator.http.base import (
    JSON_TYPE,
    Req,
    check_conditions,
    checked_body,
    created,
    done,
    dumps,
    entity,
    entity_headers,
    has_conditions,
    json_body,
    listing,
    seg,
    snapshot_headers,
)
from batchflow.emulator.kinds import Json
from batchflow.emulator.state import jobs, pools, tasks

Handler = Callable[[Req], Response]
MAX_TASKS_PER_COLLECTION = 100
MAX_COLLECTION_BYTES = 1024 * 1024  # the service's documented 1 MB limit on addtaskcollection


def _flag(req: Req, name: str) -> bool:
    value = req.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise errors.invalid_query_parameter(name, value, "Expected true or false.")
    return value == "true"


def _pool_url(req: Req, pool_id: str) -> str:
    return f"{req.base_url}/pools/{seg(pool_id)}"


def _job_url(req: Req, job_id: str) -> str:
    return f"{req.base_url}/jobs/{seg(job_id)}"


def _task_url(req: Req, job_id: str, task_id: str) -> str:
    return f"{_job_url(req, job_id)}/tasks/{seg(task_id)}"


def _after(req: Req, read: Callable[..., Json]) -> Json | None:
    """The resource an action answered for, read after it (its eTag and Last-Modified go in
    the answer); None when another request deleted it meanwhile: the action still happened."""
    try:
        return read(*req.params)
    except BatchServiceError as exc:
        if exc.status == 404:
            return None
        raise


# --- pools ---------------------------------------------------------------------------------
def pool_add(req: Req) -> Response:
    pool = pools.create_pool(req.core, checked_body(req, validation.POOL_ADD))
    return created(pool, _pool_url(req, str(pool["id"])))


def pool_list(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    page = pools.list_pools(req.core, q.filter, q.token, q.limit)
    return listing(req, q, page, "pools", lambda p: _pool_url(req, str(p["id"])))


def _pool(req: Req) -> Json:
    pool = req.core.pool(req.params[0])
    check_conditions(req, pool)
    return pool


def pool_get(req: Req) -> Response:
    pool = _pool(req)
    if req.is_head:
        return done(200, pool)
    return entity(req, pool, "pools", _pool_url(req, str(pool["id"])))


def pool_delete(req: Req) -> Response:
    if has_conditions(req):
        _pool(req)
    pools.delete_pool(req.core, req.params[0])
    return done(202)


def _pool_update(req: Req, spec: validation.Body, replace: bool, status: int) -> Response:
    body = checked_body(req, spec)
    if has_conditions(req):
        _pool(req)
    pool = pools.update_pool(req.core, req.params[0], body, replace=replace)
    return done(status, pool, _pool_url(req, req.params[0]))


def pool_patch(req: Req) -> Response:
    return _pool_update(req, validation.POOL_PATCH, replace=False, status=200)


def pool_update_properties(req: Req) -> Response:
    return _pool_update(req, validation.POOL_UPDATE_PROPERTIES, replace=True, status=204)


def pool_resize(req: Req) -> Response:
    body = checked_body(req, validation.POOL_RESIZE)
    if has_conditions(req):
        _pool(req)
    pools.resize_pool(req.core, req.params[0], body)
    return done(202, _after(req, req.core.pool), _pool_url(req, req.params[0]))


def pool_enable_autoscale(req: Req) -> Response:
    body = checked_body(req, validation.POOL_ENABLE_AUTOSCALE, optional=True)
    if has_conditions(req):
        _pool(req)
    req.core.autoscaling.enable(req.params[0], body)
    return done(200, _after(req, req.core.pool), _pool_url(req, req.params[0]))


def pool_disable_autoscale(req: Req) -> Response:
    json_body(req, optional=True)
    req.core.autoscaling.disable(req.params[0])
    return done(200, _after(req, req.core.pool), _pool_url(req, req.params[0]))


def pool_evaluate_autoscale(req: Req) -> Response:
    body = checked_body(req, validation.POOL_EVALUATE_AUTOSCALE)
    run = req.core.autoscaling.evaluate(req.params[0], body["autoScaleFormula"])
    meta = f"{req.base_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"
    headers = entity_headers(_after(req, req.core.pool) or {})
    headers["DataServiceId"] = _pool_url(req, req.params[0])
    return Response(dumps({"odata.metadata": meta, **run}), 200, headers, media_type=JSON_TYPE)


# --- nodes ---------------------------------------------------------------------------------
def node_list(req: Req) -> Response:
    pool_id = req.params[0]
    q = odata.parse_list_query(req.query)
    page = pools.list_nodes(req.core, pool_id, q.filter, q.token, q.limit)
    base = _pool_url(req, pool_id)
    return listing(req, q, page, "nodes", lambda n: f"{base}/nodes/{seg(str(n['id']))}")


def node_get(req: Req) -> Response:
    pool_id, node_id = req.params
    node = pools.get_node(req.core, pool_id, node_id)
    return entity(req, node, "nodes", f"{_pool_url(req, pool_id)}/nodes/{seg(node_id)}")


# --- jobs ----------------------------------------------------------------------------------
def job_add(req: Req) -> Response:
    job = jobs.create_job(req.core, checked_body(req, validation.JOB_ADD))
    return created(job, _job_url(req, str(job["id"])))


def job_list(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    page = jobs.list_jobs(req.core, q.filter, q.token, q.limit)
    return listing(req, q, page, "jobs", lambda j: _job_url(req, str(j["id"])))


def _job(req: Req) -> Json:
    job = req.core.job(req.params[0])
    check_conditions(req, job)
    return job


def job_get(req: Req) -> Response:
    job = _job(req)
    return entity(req, job, "jobs", _job_url(req, str(job["id"])))


def _job_update(req: Req, spec: validation.Body, replace: bool) -> Response:
    body = checked_body(req, spec)
    if has_conditions(req):
        _job(req)
    job = jobs.update_job(req.core, req.params[0], body, replace=replace)
    return done(200, job, _job_url(req, req.params[0]))


def job_patch(req: Req) -> Response:
    return _job_update(req, validation.JOB_PATCH, replace=False)


def job_update(req: Req) -> Response:
    return _job_update(req, validation.JOB_UPDATE, replace=True)


def job_terminate(req: Req) -> Response:
    body = checked_body(req, validation.JOB_TERMINATE, optional=True)
    if has_conditions(req):
        _job(req)
    _flag(req, "force")  # checked, then moot: no local node delays a termination
    jobs.terminate_job(req.core, req.params[0], body.get("terminateReason"))
    return done(202, _after(req, req.core.job), _job_url(req, req.params[0]))


def job_delete(req: Req) -> Response:
    if has_conditions(req):
        _job(req)
    _flag(req, "force")  # checked, then moot: no local node delays a deletion
    jobs.delete_job(req.core, req.params[0])
    return done(202)


def job_task_counts(req: Req) -> Response:
    counts = dict(jobs.task_counts(req.core, req.params[0]))
    body = {
        "odata.metadata": f"{req.base_url}/$metadata"
        "#Microsoft.Azure.Batch.Protocol.Entities.TaskCountsResult",
        **counts,
    }
    body = versions.answer(req.api_version, versions.TASK_COUNTS, body)
    return Response(dumps(body), 200, snapshot_headers(), media_type=JSON_TYPE)


# --- tasks ---------------------------------------------------------------------------------
def task_add(req: Req) -> Response:
    job_id = req.params[0]
    task = tasks.create_task(req.core, job_id, checked_body(req, validation.TASK_ADD))
    return created(task, _task_url(req, job_id, str(task["id"])))


def _too_large(detail: str) -> BatchServiceError:
    return errors.request_body_too_large(detail)


def task_add_collection(req: Req) -> Response:
    job_id = req.params[0]
    if len(req.body) > MAX_COLLECTION_BYTES:
        raise _too_large(f"{MAX_COLLECTION_BYTES} bytes")
    raw = validation.validate_task_collection(json_body(req))
    if len(raw) > MAX_TASKS_PER_COLLECTION:
        raise _too_large(f"{MAX_TASKS_PER_COLLECTION} tasks")
    results: list[Json | None] = [None] * len(raw)
    good: list[Json] = []
    where: list[int] = []
    for i, body in enumerate(raw):
        try:
            good.append(validation.validate(body, validation.TASK_ADD))
            where.append(i)
        except BatchServiceError as exc:  # one bad task is one clienterror, as on Azure
            task_id = body.get("id", "") if isinstance(body, dict) else ""
            results[i] = {"status": "clienterror", "taskId": task_id, "error": exc.inner()}
    for i, result in zip(where, tasks.create_tasks(req.core, job_id, good), strict=True):
        if result.get("status") == "success":
            result = {**result, "location": _task_url(req, job_id, str(result["taskId"]))}
        results[i] = result
    body = {"odata.metadata": f"{req.base_url}/$metadata#taskaddresult", "value": results}
    return Response(dumps(body), 200, snapshot_headers(), media_type=JSON_TYPE)


def task_list(req: Req) -> Response:
    job_id = req.params[0]
    q = odata.parse_list_query(req.query)
    page = tasks.list_tasks(req.core, job_id, q.filter, q.token, q.limit)
    return listing(req, q, page, "tasks", lambda t: _task_url(req, job_id, str(t["id"])))


def _task(req: Req) -> Json:
    task = req.core.task(req.params[0], req.params[1])
    check_conditions(req, task)
    return task


def task_get(req: Req) -> Response:
    task = _task(req)
    url = _task_url(req, req.params[0], str(task["id"]))
    return entity(req, task, "tasks", url, service_id=True)


def task_update(req: Req) -> Response:
    body = checked_body(req, validation.TASK_UPDATE)
    if has_conditions(req):
        _task(req)
    tasks.update_task(req.core, req.params[0], req.params[1], body)
    return done(200, req.core.task(req.params[0], req.params[1]), _task_url(req, *req.params))


def _task_action(action: Callable[[Req], None], status: int, *, gone: bool = False) -> Handler:
    """``gone``: the action removes the task (its answer names no eTag then)."""

    def handler(req: Req) -> Response:
        json_body(req, optional=True)  # tolerated, but it must be well-formed if present
        if has_conditions(req):
            _task(req)
        action(req)
        after = None if gone else _after(req, req.core.task)
        return done(status, after, _task_url(req, *req.params))

    return handler


task_delete = _task_action(lambda r: tasks.delete_task(r.core, *r.params), 200, gone=True)
task_terminate = _task_action(lambda r: tasks.terminate_task(r.core, *r.params), 204)
task_reactivate = _task_action(lambda r: tasks.reactivate_task(r.core, *r.params), 204)
