"""Routes of the node operations (removenodes, stopresize, reboot, reimage, deallocate,
start, scheduling, node users, remote login, service logs, extensions), pool usage metrics,
subtasks and applications: parse, call ``state.node_ops``, serialize. No semantics here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from batchflow.emulator import errors, shapes
from batchflow.emulator.http import odata, validation
from batchflow.emulator.http.base import (
    JSON_TYPE,
    Req,
    check_conditions,
    checked_body,
    created,
    done,
    dumps,
    entity_headers,
    has_conditions,
    json_body,
    seg,
    snapshot_headers,
)
from batchflow.emulator.kinds import Json, NodeAction
from batchflow.emulator.state import node_ops, pools
from batchflow.emulator.state.store import Page

Handler = Callable[[Req], Response]


def _pool_url(req: Req) -> str:
    return f"{req.base_url}/pools/{seg(req.params[0])}"


def _node_url(req: Req) -> str:
    return f"{_pool_url(req)}/nodes/{seg(req.params[1])}"


def _json(req: Req, kind: str, body: Json, headers: dict[str, str] | None = None) -> Response:
    """200 with ``body``; without ``headers`` (an application, an upload's result: nothing
    with an eTag of its own) the ETag and Last-Modified the API declares are a snapshot's."""
    meta = {"odata.metadata": f"{req.base_url}/$metadata#{kind}"}
    headers = headers or snapshot_headers()
    return Response(dumps({**meta, **body}), 200, headers, media_type=JSON_TYPE)


def _node_stamp(req: Req) -> Json:
    """ETag and Last-Modified of a node (which has no eTag of its own): its state's time."""
    node = pools.get_node(req.core, req.params[0], req.params[1])
    return {"eTag": shapes.new_etag(), "lastModified": node["stateTransitionTime"]}


# --- pools ---------------------------------------------------------------------------------
def _pool_write(req: Req) -> None:
    if has_conditions(req):
        check_conditions(req, req.core.pool(req.params[0]))


def pool_remove_nodes(req: Req) -> Response:
    body = checked_body(req, validation.POOL_REMOVE_NODES)
    _pool_write(req)
    node_ops.remove_nodes(req.core, req.params[0], body)
    return done(202, req.core.pool(req.params[0]), _pool_url(req))


def pool_stop_resize(req: Req) -> Response:
    json_body(req, optional=True)
    _pool_write(req)
    node_ops.stop_resize(req.core, req.params[0])
    return done(202, req.core.pool(req.params[0]), _pool_url(req))


def _query(req: Req, name: str) -> str | None:
    """A query parameter by its name in any case (15.x sends ``startTime`` and ``endtime``)."""
    for key, value in req.query.items():
        if key.lower() == name.lower():
            return value
    return None


def pool_usage_metrics(req: Req) -> Response:
    q = odata.parse_list_query(
        {k: v for k, v in req.query.items() if k.lower() not in ("starttime", "endtime")}
    )
    start, end = _query(req, "startTime"), _query(req, "endTime")
    page = node_ops.usage_metrics(req.core, start, end, q.filter, q.token, q.limit)
    extra = {k: v for k, v in (("startTime", start), ("endtime", end)) if v}
    return _plain_listing(req, q, page, "poolusagemetrics", extra)


# --- one node ------------------------------------------------------------------------------
def _action(action: NodeAction, spec: validation.Obj | validation.Body, option_key: str) -> Handler:
    def handler(req: Req) -> Response:
        body = checked_body(req, spec, optional=True)
        option = str(body.get(option_key) or "requeue")
        node_ops.node_action(req.core, req.params[0], req.params[1], action, option)
        return done(202, _node_stamp(req), _node_url(req))

    return handler


node_reboot = _action(NodeAction.REBOOT, validation.NODE_REBOOT, "nodeRebootOption")
node_reimage = _action(NodeAction.REIMAGE, validation.NODE_REIMAGE, "nodeReimageOption")
node_deallocate = _action(NodeAction.DEALLOCATE, validation.NODE_DEALLOCATE, "nodeDeallocateOption")


def node_start(req: Req) -> Response:
    json_body(req, optional=True)
    node_ops.start_node(req.core, req.params[0], req.params[1])
    return done(202, _node_stamp(req), _node_url(req))


def node_disable_scheduling(req: Req) -> Response:
    body = checked_body(req, validation.NODE_DISABLE_SCHEDULING, optional=True)
    option = str(body.get("nodeDisableSchedulingOption") or "requeue")
    node_ops.set_scheduling(req.core, req.params[0], req.params[1], False, option)
    return done(200, _node_stamp(req), _node_url(req))


def node_enable_scheduling(req: Req) -> Response:
    json_body(req, optional=True)
    node_ops.set_scheduling(req.core, req.params[0], req.params[1], True)
    return done(200, _node_stamp(req), _node_url(req))


def node_user_add(req: Req) -> Response:
    body = checked_body(req, validation.NODE_USER_ADD)
    node_ops.add_user(req.core, req.params[0], req.params[1], body)
    return created(_node_stamp(req), f"{_node_url(req)}/users/{seg(str(body['name']))}")


def node_user_update(req: Req) -> Response:
    body = checked_body(req, validation.NODE_USER_UPDATE, optional=True)
    node_ops.update_user(req.core, req.params[0], req.params[1], req.params[2], body)
    return done(200, _node_stamp(req), f"{_node_url(req)}/users/{seg(req.params[2])}")


def node_user_delete(req: Req) -> Response:
    node_ops.delete_user(req.core, req.params[0], req.params[1], req.params[2])
    return Response(b"", 200)


def node_remote_login(req: Req) -> Response:
    settings = node_ops.remote_login(req.core, req.params[0], req.params[1])
    kind = "Microsoft.Azure.Batch.Protocol.Entities.NodeRemoteLoginSettings"
    return _json(req, kind, settings, entity_headers(_node_stamp(req)))


def node_upload_logs(req: Req) -> Response:
    body = checked_body(req, validation.NODE_UPLOAD_LOGS)
    result = node_ops.upload_logs(req.core, req.params[0], req.params[1], body)
    kind = "Microsoft.Azure.Batch.Protocol.Entities.UploadBatchServiceLogsResult"
    return _json(req, kind, result)


def node_extensions(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    if q.filter:
        raise errors.invalid_query_parameter(
            "$filter", q.filter, "Node extensions are listed without a filter."
        )
    found = node_ops.node_extensions(req.core, req.params[0], req.params[1])
    start = int(q.token or 0)
    more = start + q.limit < len(found)
    page = Page(found[start : start + q.limit], str(start + q.limit) if more else None)
    response = _plain_listing(req, q, page, "extensions")
    response.headers.update(entity_headers(_node_stamp(req)))
    return response


def node_extension(req: Req) -> Response:
    ext = node_ops.node_extension(req.core, *req.params)
    select = odata.parse_select(req.query.get("$select"))
    odata.check_dollar_options(req.query, frozenset({"$select"}))
    body = odata.project({**ext}, select)
    return _json(req, "extensions/@Element", body, entity_headers(_node_stamp(req)))


def _plain_listing(
    req: Req, q: odata.ListQuery, page: Page, kind: str, extra: dict[str, str] | None = None
) -> Response:
    """One page of items that have no ``url`` of their own (usage metrics, applications,
    extensions): ``value`` plus an absolute ``odata.nextLink`` when more follow."""
    items = [odata.project(dict(it), q.select) for it in page.items]
    body: Json = {"odata.metadata": f"{req.base_url}/$metadata#{kind}", "value": items}
    link = odata.next_link(req.base_url, req.raw_path, req.api_version, q, page.next_token, extra)
    if link:
        body["odata.nextLink"] = link
    return Response(dumps(body), 200, snapshot_headers(), media_type=JSON_TYPE)


# --- the account, tasks --------------------------------------------------------------------
def task_subtasks(req: Req) -> Response:
    odata.check_dollar_options(req.query, frozenset({"$select"}))
    found = node_ops.list_subtasks(req.core, req.params[0], req.params[1])
    task = req.core.task(req.params[0], req.params[1])
    return _json(req, "subtaskinfo", {"value": found}, entity_headers(task))


def application_list(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    if q.filter:
        raise errors.invalid_query_parameter(
            "$filter", q.filter, "Applications are listed without a filter."
        )
    apps: list[Any] = list(req.core.applications)
    start = int(q.token or 0)
    more = start + q.limit < len(apps)
    page = Page(apps[start : start + q.limit], str(start + q.limit) if more else None)
    return _plain_listing(req, q, page, "applications")


def application_get(req: Req) -> Response:
    app = node_ops.application(req.core, req.params[0])
    return _json(req, "applications/@Element", app)
