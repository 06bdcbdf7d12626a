"""The emulator's HTTP front: one request pipeline over a table of Batch REST routes.

For every request: check the SharedKey signature (it covers the headers, Content-Length among
them, not the body), find the route on the RAW path (percent-encoded ids and file paths are
split before unquoting), read the body within the operation's size limit and ``body_timeout``,
count the request and maybe inject a fault, check api-version, then run the route's handler in
a worker thread (the state blocks on SQLite and processes). Nothing of the body is read before
the signature and the announced size are accepted, and an answer sent before the body was read
closes the connection, so a client without the key cannot make the emulator hold its upload.

Every answer carries ``request-id`` (and echoes ``client-request-id`` when
``return-client-request-id: true`` asks); every failure is the service's BatchError JSON, an
unexpected one a 500 InternalError with the trace in the log only.
Control routes under ``/_emulator/`` are authenticated like the rest, never faulted or counted.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from batchflow.emulator import errors
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.http import (
    account_routes,
    faults,
    file_routes,
    node_event_routes,
    recording,
    validation,
)
from batchflow.emulator.http import node_routes as n
from batchflow.emulator.http import routes as r
from batchflow.emulator.http import schedule_routes as sr
from batchflow.emulator.http.auth import Verifier
from batchflow.emulator.http.base import (
    JSON_TYPE,
    Account,
    Req,
    Route,
    checked_body,
    dumps,
    error_response,
    resolve,
    route,
)
from batchflow.emulator.state import autoscaling, pools, quotas

log = logging.getLogger("batchflow.emulator")
# Batch documents 1 MB for a task collection (RequestBodyTooLarge, 413); a single pool, job
# or task is far smaller, so the rest get a bound with room to spare.
MAX_BODY_BYTES = 4 * 1024 * 1024
_BODY_LIMITS = {"Task_AddCollection": r.MAX_COLLECTION_BYTES}
_API_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(\.\d+\.\d+)?")
# api-versions of the SDKs from 6.x (2018-12-01.8.0) to 15.x (2025-06-01).
_OLDEST_API, _NEWEST_API = _dt.date(2018, 1, 1), _dt.date(2025, 6, 1)


BATCH_ROUTES = (
    route("POST", "pools", "Pool_Add", r.pool_add),
    route("GET", "pools", "Pool_List", r.pool_list),
    route("GET", "pools/{}", "Pool_Get", r.pool_get),
    route("HEAD", "pools/{}", "Pool_Exists", r.pool_get),
    route("DELETE", "pools/{}", "Pool_Delete", r.pool_delete),
    route("PATCH", "pools/{}", "Pool_Patch", r.pool_patch),
    route("POST", "pools/{}/resize", "Pool_Resize", r.pool_resize),
    route("POST", "pools/{}/updateproperties", "Pool_UpdateProperties", r.pool_update_properties),
    route("POST", "pools/{}/enableautoscale", "Pool_EnableAutoScale", r.pool_enable_autoscale),
    route("POST", "pools/{}/disableautoscale", "Pool_DisableAutoScale", r.pool_disable_autoscale),
    route(
        "POST", "pools/{}/evaluateautoscale", "Pool_EvaluateAutoScale", r.pool_evaluate_autoscale
    ),
    route("GET", "pools/{}/nodes", "ComputeNode_List", r.node_list),
    route("GET", "pools/{}/nodes/{}", "ComputeNode_Get", r.node_get),
    route("GET", "pools/{}/nodes/{}/files", "File_ListFromComputeNode", file_routes.node_files),
    route("GET", "pools/{}/nodes/{}/files/{**}", "File_GetFromComputeNode", file_routes.node_file),
    route(
        "HEAD",
        "pools/{}/nodes/{}/files/{**}",
        "File_GetPropertiesFromComputeNode",
        file_routes.node_file,
    ),
    route("POST", "jobs", "Job_Add", r.job_add),
    route("GET", "jobs", "Job_List", r.job_list),
    route("GET", "jobs/{}", "Job_Get", r.job_get),
    route("PATCH", "jobs/{}", "Job_Patch", r.job_patch),
    route("PUT", "jobs/{}", "Job_Update", r.job_update),
    route("DELETE", "jobs/{}", "Job_Delete", r.job_delete),
    route("POST", "jobs/{}/terminate", "Job_Terminate", r.job_terminate),
    route("GET", "jobs/{}/taskcounts", "Job_GetTaskCounts", r.job_task_counts),
    route("POST", "jobs/{}/tasks", "Task_Add", r.task_add),
    route("POST", "jobs/{}/addtaskcollection", "Task_AddCollection", r.task_add_collection),
    route("GET", "jobs/{}/tasks", "Task_List", r.task_list),
    route("GET", "jobs/{}/tasks/{}", "Task_Get", r.task_get),
    route("PUT", "jobs/{}/tasks/{}", "Task_Update", r.task_update),
    route("DELETE", "jobs/{}/tasks/{}", "Task_Delete", r.task_delete),
    route("POST", "jobs/{}/tasks/{}/terminate", "Task_Terminate", r.task_terminate),
    route("POST", "jobs/{}/tasks/{}/reactivate", "Task_Reactivate", r.task_reactivate),
    route("GET", "jobs/{}/tasks/{}/files", "File_ListFromTask", file_routes.task_files),
    route("GET", "jobs/{}/tasks/{}/files/{**}", "File_GetFromTask", file_routes.task_file),
    route(
        "HEAD", "jobs/{}/tasks/{}/files/{**}", "File_GetPropertiesFromTask", file_routes.task_file
    ),
    # --- node operations, usage metrics, file deletion, subtasks, applications (#10) ---
    route("POST", "pools/{}/removenodes", "Pool_RemoveNodes", n.pool_remove_nodes),
    route("POST", "pools/{}/stopresize", "Pool_StopResize", n.pool_stop_resize),
    route("GET", "poolusagemetrics", "Pool_ListUsageMetrics", n.pool_usage_metrics),
    route("POST", "pools/{}/nodes/{}/reboot", "ComputeNode_Reboot", n.node_reboot),
    route("POST", "pools/{}/nodes/{}/reimage", "ComputeNode_Reimage", n.node_reimage),
    route("POST", "pools/{}/nodes/{}/deallocate", "ComputeNode_Deallocate", n.node_deallocate),
    route("POST", "pools/{}/nodes/{}/start", "ComputeNode_Start", n.node_start),
    route(
        "POST",
        "pools/{}/nodes/{}/disablescheduling",
        "ComputeNode_DisableScheduling",
        n.node_disable_scheduling,
    ),
    route(
        "POST",
        "pools/{}/nodes/{}/enablescheduling",
        "ComputeNode_EnableScheduling",
        n.node_enable_scheduling,
    ),
    route("POST", "pools/{}/nodes/{}/users", "ComputeNode_AddUser", n.node_user_add),
    route("PUT", "pools/{}/nodes/{}/users/{}", "ComputeNode_UpdateUser", n.node_user_update),
    route("DELETE", "pools/{}/nodes/{}/users/{}", "ComputeNode_DeleteUser", n.node_user_delete),
    route(
        "GET",
        "pools/{}/nodes/{}/remoteloginsettings",
        "ComputeNode_GetRemoteLoginSettings",
        n.node_remote_login,
    ),
    route(
        "POST",
        "pools/{}/nodes/{}/uploadbatchservicelogs",
        "ComputeNode_UploadBatchServiceLogs",
        n.node_upload_logs,
    ),
    route("GET", "pools/{}/nodes/{}/extensions", "ComputeNodeExtension_List", n.node_extensions),
    route("GET", "pools/{}/nodes/{}/extensions/{}", "ComputeNodeExtension_Get", n.node_extension),
    route(
        "DELETE",
        "pools/{}/nodes/{}/files/{**}",
        "File_DeleteFromComputeNode",
        file_routes.delete_node_file,
    ),
    route(
        "DELETE", "jobs/{}/tasks/{}/files/{**}", "File_DeleteFromTask", file_routes.delete_task_file
    ),
    route("GET", "jobs/{}/tasks/{}/subtasksinfo", "Task_ListSubtasks", n.task_subtasks),
    route("GET", "applications", "Application_List", n.application_list),
    route("GET", "applications/{}", "Application_Get", n.application_get),
    # -- job schedules, job disable / enable, preparation and release status (i10-sched) --
    route("POST", "jobschedules", "JobSchedule_Add", sr.schedule_add),
    route("GET", "jobschedules", "JobSchedule_List", sr.schedule_list),
    route("GET", "jobschedules/{}", "JobSchedule_Get", sr.schedule_get),
    route("HEAD", "jobschedules/{}", "JobSchedule_Exists", sr.schedule_get),
    route("DELETE", "jobschedules/{}", "JobSchedule_Delete", sr.schedule_delete),
    route("PATCH", "jobschedules/{}", "JobSchedule_Patch", sr.schedule_patch),
    route("PUT", "jobschedules/{}", "JobSchedule_Update", sr.schedule_update),
    route("POST", "jobschedules/{}/disable", "JobSchedule_Disable", sr.schedule_disable),
    route("POST", "jobschedules/{}/enable", "JobSchedule_Enable", sr.schedule_enable),
    route("POST", "jobschedules/{}/terminate", "JobSchedule_Terminate", sr.schedule_terminate),
    route("GET", "jobschedules/{}/jobs", "Job_ListFromJobSchedule", sr.schedule_jobs),
    route("POST", "jobs/{}/disable", "Job_Disable", sr.job_disable),
    route("POST", "jobs/{}/enable", "Job_Enable", sr.job_enable),
    route(
        "GET",
        "jobs/{}/jobpreparationandreleasetaskstatus",
        "Job_ListPreparationAndReleaseTaskStatus",
        sr.job_prep_release_status,
    ),
    # --- the account's images and node counts (issue #12) ---
    route("GET", "supportedimages", "Account_ListSupportedImages", account_routes.supported_images),
    route("GET", "nodecounts", "Account_ListPoolNodeCounts", account_routes.node_counts),
    # Before 2019-06-01.9.0 only (replaced by supportedimages): azure-batch 6.0 calls it.
    route("GET", "nodeagentskus", "Account_ListNodeAgentSkus", account_routes.node_agent_skus),
)


# Operations of older api-versions only, which the 2025-06-01 definition does not hold.
OLDER_API_ONLY = frozenset({"Account_ListNodeAgentSkus"})


def check_api_version(query: Mapping[str, str]) -> str:
    """The request's api-version; 400 when missing or outside the SDKs' range (6.x - 15.x)."""
    value = query.get("api-version", "")
    if not value:
        raise BatchServiceError(
            400,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
            [("QueryParameterName", "api-version")],
        )
    match = _API_VERSION.fullmatch(value)
    try:
        day = _dt.date.fromisoformat(match.group(1)) if match else None
    except ValueError:
        day = None
    if day is None or not _OLDEST_API <= day <= _NEWEST_API:
        raise errors.unsupported_api_version(value)
    return value


class _Body:
    """A request's body, read at most once, within a size limit and a time limit."""

    def __init__(self, receive: Receive, headers: Mapping[str, str]) -> None:
        self._receive = receive
        length = headers.get("content-length", "")
        self._announced = int(length) if length.isdigit() else None
        # Until read whole, an answer must close the connection: the client may still send.
        self.unread = self._announced != 0 and (
            self._announced is not None or "transfer-encoding" in headers
        )

    async def read(self, limit: int, timeout: float) -> bytes:
        """The whole body; 413 past ``limit`` bytes (before reading when announced), 408 when
        it does not arrive within ``timeout`` seconds."""
        if self._announced is not None and self._announced > limit:
            raise errors.request_body_too_large(f"{limit} bytes")
        try:
            with anyio.fail_after(timeout):
                body = await self._read(limit)
        except TimeoutError:
            raise errors.request_timeout(timeout) from None
        self.unread = False
        return body

    async def _read(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ConnectionAbortedError("the client went away")
            body += message.get("body", b"")
            if len(body) > limit:  # chunked, or more than announced
                raise errors.request_body_too_large(f"{limit} bytes")
            if not message.get("more_body", False):
                return bytes(body)


class EmulatorApp(Starlette):
    """The Batch REST API of one account; ``faults`` is its control."""

    def __init__(self, state: Account, account: str, key: str, body_timeout: float = 30.0) -> None:
        super().__init__()
        self.batch_state = state
        self.body_timeout = body_timeout
        self.verifier = Verifier(account, key)
        self.faults = faults.Faults()
        self.routes_table = BATCH_ROUTES + self._control_routes() + sr.CONTROL_ROUTES
        recording.from_environment()

    def build_middleware_stack(self) -> ASGIApp:
        # The pipeline replaces Starlette's router and error middleware: errors must be
        # BatchError JSON, and a dropped connection needs the server's own ``send``.
        return self._serve

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = str(uuid.uuid4())
        body = _Body(receive, headers)
        seen = _Seen()
        try:
            response = await self._handle(scope, receive, send, headers, request_id, body, seen)
        except ConnectionAbortedError:
            return
        if response is None:
            return
        if body.unread:
            response.headers["connection"] = "close"
        response.headers["request-id"] = request_id
        if headers.get("return-client-request-id", "").lower() == "true":
            response.headers["client-request-id"] = headers.get("client-request-id", "")
        if recording.active() and seen.route is not None and not seen.route.control:
            _record(seen, headers, response)
        await response(scope, receive, send)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        request_id: str,
        request_body: _Body,
        seen: _Seen,
    ) -> Response | None:
        method = scope["method"]
        try:
            raw = scope.get("raw_path") or scope["path"].encode("utf-8")
            raw_path = raw.decode("latin-1").partition("?")[0]
            query_string = scope["query_string"].decode("latin-1")
            self.verifier.verify(method, raw_path, query_string, headers)
            route, params = resolve(self.routes_table, method, raw_path)
            seen.route = route
            limit = _BODY_LIMITS.get(route.op, MAX_BODY_BYTES)
            body = await request_body.read(limit, self.body_timeout)
            if not route.control and await self._fault(route.op, receive, send):
                return None
            query = seen.query = _first_values(query_string)
            api_version = seen.api_version = (
                query.get("api-version", "") if route.control else (check_api_version(query))
            )
            req = Req(
                self.batch_state,
                method,
                raw_path,
                params,
                query,
                headers,
                body,
                _base_url(scope, headers),
                api_version,
            )
            return await anyio.to_thread.run_sync(route.handler, req)
        except BatchServiceError as exc:
            return error_response(exc, request_id, head=method == "HEAD")
        except ConnectionAbortedError:
            raise
        except Exception:
            # The error boundary: a bug answers as the service's 500 InternalError (the SDKs
            # retry those) rather than a dropped connection; the trace goes to the log only.
            log.exception("internal error serving %s %s", method, scope.get("path"))
            return error_response(errors.internal_error(), request_id, head=method == "HEAD")

    async def _fault(self, op: str, receive: Receive, send: Send) -> bool:
        """Count the request; True if its connection was dropped; raise an injected error."""
        verdict = self.faults.on_request(op)
        if verdict == "drop":
            await faults.drop_connection(receive, send)
            return True
        if verdict == "error":
            raise faults.error_for(self.faults.config.status)
        return False

    # --- the control surface (tests) ----------------------------------------------------
    def _control_routes(self) -> tuple[Route, ...]:
        def set_faults(req: Req) -> Response:
            body = checked_body(req, validation.CONTROL_FAULTS)
            known = frozenset(op.op for op in BATCH_ROUTES)
            self.faults.configure(faults.parse_config(body, known), body.get("seed"))
            return _json(self.faults.config.to_json())

        def get_faults(req: Req) -> Response:
            return _json(self.faults.config.to_json())

        def lose_node(req: Req) -> Response:
            body = checked_body(req, validation.CONTROL_LOSE_NODE)
            lost = pools.lose_node(req.core, body["poolId"], body.get("nodeId"))
            return _json({"poolId": body["poolId"], "nodeId": lost})

        def set_clock(req: Req) -> Response:
            body = checked_body(req, validation.CONTROL_CLOCK)
            speed = body["speed"]
            if (
                isinstance(speed, bool)
                or not isinstance(speed, int | float)
                or not 0 < speed <= autoscaling.MAX_SPEED
            ):
                raise errors.invalid_property_value(
                    "speed", speed, f"Expected a number above 0, at most {autoscaling.MAX_SPEED:g}."
                )
            req.core.autoscaling.set_speed(float(speed))
            return _json({"speed": float(speed)})

        def evaluate_now(req: Req) -> Response:
            body = checked_body(req, validation.CONTROL_AUTOSCALE)
            pool = req.core.autoscaling.evaluate_now(body["poolId"])
            return _json({"poolId": pool["id"], "autoScaleRun": pool.get("autoScaleRun")})

        def reset(req: Req) -> Response:
            req.core.reset()
            self.faults.reset()
            return _json({})

        def counters(req: Req) -> Response:
            return _json(self.faults.counters())

        def set_quotas(req: Req) -> Response:
            body = checked_body(req, validation.CONTROL_QUOTAS)
            return _json(quotas.set_quotas(req.core, body))

        def get_quotas(req: Req) -> Response:
            return _json(quotas.get_quotas(req.core))

        def set_allocation(req: Req) -> Response:
            body = checked_body(req, validation.CONTROL_ALLOCATION)
            return _json(quotas.set_allocation_failure(req.core, body.get("failure")))

        return (
            route("POST", "_emulator/faults", "Control_SetFaults", set_faults),
            route("GET", "_emulator/faults", "Control_GetFaults", get_faults),
            route("POST", "_emulator/nodes/lose", "Control_LoseNode", lose_node),
            route("POST", "_emulator/clock", "Control_SetClock", set_clock),
            route(
                "POST", "_emulator/autoscale/evaluate", "Control_EvaluateAutoscale", evaluate_now
            ),
            route("POST", "_emulator/reset", "Control_Reset", reset),
            route("GET", "_emulator/counters", "Control_Counters", counters),
            route("POST", "_emulator/quotas", "Control_SetQuotas", set_quotas),
            route("GET", "_emulator/quotas", "Control_GetQuotas", get_quotas),
            route("POST", "_emulator/allocation", "Control_SetAllocation", set_allocation),
            # --- what a real account does to nodes (issue #12) ---
            route("POST", "_emulator/nodes/preempt", "Control_Preempt", node_event_routes.preempt),
            route(
                "POST", "_emulator/nodes/unusable", "Control_Unusable", node_event_routes.unusable
            ),
            route(
                "POST",
                "_emulator/nodes/faults",
                "Control_NodeFaults",
                node_event_routes.node_faults,
            ),
        )


_ECHOED = frozenset({"client-request-id", "return-client-request-id"})


class _Seen:
    """What the pipeline learnt of a request before answering it (for ``recording``)."""

    def __init__(self) -> None:
        self.route: Route | None = None
        self.query: Mapping[str, str] = {}
        self.api_version = ""


def _record(seen: _Seen, headers: Mapping[str, str], response: Response) -> None:
    assert seen.route is not None
    body = None if isinstance(response, StreamingResponse) else bytes(response.body)
    recording.record(
        recording.Exchange(
            operation=seen.route.op,
            method=seen.route.method,
            pattern=seen.route.pattern,
            api_version=seen.api_version,
            query=seen.query,
            # Only what an answer must echo: the signature and the rest stay out of records.
            request_headers={k: v for k, v in headers.items() if k in _ECHOED},
            status=response.status_code,
            headers=dict(response.headers),
            body=body,
        )
    )


def _first_values(query_string: str) -> dict[str, str]:
    """Query parameters; 400 for one given twice. The signature covers only a parameter's
    first value, so a second copy could otherwise change what the request does unsigned."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name in params:
            raise errors.invalid_query_parameter(
                name, value, "The query parameter is given more than once."
            )
        params[name] = value
    return params


def _json(value: Mapping[str, Any]) -> Response:
    return Response(dumps(value), 200, media_type=JSON_TYPE)


def _base_url(scope: Scope, headers: Mapping[str, str]) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message: MutableMapping[str, Any] = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(state: Account, account: str, key: str, body_timeout: float = 30.0) -> EmulatorApp:
    """The ASGI app (a Starlette) serving ``state`` for ``account``, signed with ``key``."""
    return EmulatorApp(state, account, key, body_timeout)
