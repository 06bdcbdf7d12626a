"""What every route shares: the parsed request, JSON in and out, entity and list responses,
conditional headers (If-Match and friends) checked against a resource's eTag/lastModified."""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote

from starlette.responses import Response

from batchflow.emulator import errors, shapes
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.http import bounded_json, odata, stats, validation, versions
from batchflow.emulator.kinds import Json
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.store import Page

JSON_TYPE = "application/json;odata=minimalmetadata"
# Top-level collections of the real service, to tell "not emulated" from "no such thing".
_BATCH_COLLECTIONS = frozenset(
    {
        "pools",
        "jobs",
        "jobschedules",
        "applications",
        "certificates",
        "supportedimages",
        "nodecounts",
        "poolusagemetrics",
        "lifetimejobstats",
        "lifetimepoolstats",
    }
)


class Account(Protocol):
    """What the HTTP layer serves (``EmulatorService``): the account's live state. Once the
    service has stopped serving, ``core`` raises the service's error, so every request is
    refused saying why."""

    @property
    def core(self) -> Core: ...


@dataclass(frozen=True)
class Req:
    """One authenticated request, parsed, with the account it acts on."""

    state: Account
    method: str
    raw_path: str
    params: tuple[str, ...]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    api_version: str

    @property
    def core(self) -> Core:
        """The state the request acts on: handlers pass it to the state's operations."""
        return self.state.core

    @property
    def is_head(self) -> bool:
        return self.method == "HEAD"


Handler = Callable[[Req], Response]


def seg(value: str) -> str:
    """One path segment, percent-encoded for a URL we hand out."""
    return quote(value, safe="")


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_body(req: Req, *, optional: bool = False) -> object:
    """The request's JSON body; 400 naming what is wrong with it. ``None`` if optional and
    empty."""
    if not req.body.strip():
        if optional:
            return None
        raise errors.invalid_request_body("The request body is empty; a JSON object is needed.")
    ctype = req.headers.get("content-type", "")
    if not ctype.lower().startswith("application/json"):
        raise errors.invalid_header("Content-Type", ctype or "(none)")
    return bounded_json.parse(req.body)


def checked_body(
    req: Req, spec: validation.Obj | validation.Body, *, optional: bool = False
) -> Json:
    """The JSON body validated against ``spec`` (``{}`` for an empty optional body)."""
    if optional and not req.body.strip():
        return {}
    # A literal ``null`` is not an empty body: it is validated (and refused) like any non-object.
    return validation.validate(json_body(req), spec)


def rfc1123(iso: str) -> str:
    """``2024-01-02T03:04:05.123Z`` -> ``Tue, 02 Jan 2024 03:04:05 GMT`` (HTTP dates)."""
    return email.utils.format_datetime(_parse_iso(iso), usegmt=True)


def _parse_iso(iso: str) -> _dt.datetime:
    text = iso.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # the service writes 7 fraction digits; Python 3.10 reads at most 6
        digits = rest[: len(rest) - 6]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    return _dt.datetime.fromisoformat(text)


def entity_headers(item: Mapping[str, Any]) -> dict[str, str]:
    """ETag and Last-Modified headers of a resource, as the service sends them."""
    out: dict[str, str] = {}
    if item.get("eTag"):
        out["ETag"] = str(item["eTag"])
    if item.get("lastModified"):
        out["Last-Modified"] = rfc1123(str(item["lastModified"]))
    return out


def snapshot_headers() -> dict[str, str]:
    """ETag and Last-Modified of an answer that is no one resource (a list page, task counts,
    a task collection's results): the API declares both on those too; each answer is a new
    snapshot, so a fresh eTag and now."""
    return {"ETag": shapes.new_etag(), "Last-Modified": rfc1123(shapes.now())}


def decorate(req: Req, item: Mapping[str, Any], kind: str, url: str) -> dict[str, Any]:
    """A resource as the wire shows it: odata.metadata first, the fields, the absolute url."""
    out: dict[str, Any] = {"odata.metadata": f"{req.base_url}/$metadata#{kind}/@Element"}
    out.update(item)
    out["url"] = url
    return versions.answer(req.api_version, kind, out)


def entity(
    req: Req, item: Mapping[str, Any], kind: str, url: str, *, service_id: bool = False
) -> Response:
    """200 with one resource, ``$select`` applied; ``service_id``: with the DataServiceId
    header (Tasks_GetTask declares it, the other gets do not)."""
    select = odata.parse_select(req.query.get("$select"))
    odata.check_dollar_options(req.query, frozenset({"$select", "$expand"}))
    if odata.parse_expand(req.query.get("$expand")):
        item = stats.expanded(req.core, kind, item, url)
    body = odata.project(decorate(req, item, kind, url), select)
    if select:
        body.setdefault("odata.metadata", f"{req.base_url}/$metadata#{kind}/@Element")
    # A node has no eTag of its own: its answer is a snapshot, like a list's.
    headers = entity_headers(item) or snapshot_headers()
    if service_id:
        headers["DataServiceId"] = url
    return Response(dumps(body), 200, headers, media_type=JSON_TYPE)


def listing(
    req: Req,
    q: odata.ListQuery,
    page: Page,
    kind: str,
    url_of: Callable[[Json], str],
    extra: Mapping[str, str] | None = None,
) -> Response:
    """200 with one page: ``value`` plus an absolute ``odata.nextLink`` when more follow."""
    docs = page.items
    if q.expand:
        docs = [stats.expanded(req.core, kind, it, url_of(it)) for it in docs]
    items = [odata.project(decorate(req, it, kind, url_of(it)), q.select) for it in docs]
    for it in items:
        it.pop("odata.metadata", None)
    body: dict[str, Any] = {"odata.metadata": f"{req.base_url}/$metadata#{kind}", "value": items}
    link = odata.next_link(req.base_url, req.raw_path, req.api_version, q, page.next_token, extra)
    if link:
        body["odata.nextLink"] = link
    return Response(dumps(body), 200, snapshot_headers(), media_type=JSON_TYPE)


def created(item: Mapping[str, Any], url: str) -> Response:
    """201 with an empty body and the headers the SDKs read."""
    headers = entity_headers(item)
    headers.update({"DataServiceId": url, "Location": url, "DataServiceVersion": "3.0"})
    return Response(b"", 201, headers)


def done(status: int = 200, item: Mapping[str, Any] | None = None, url: str = "") -> Response:
    """An empty-bodied success (200 patch/put, 202 delete/resize/terminate); ``url``: the
    resource acted on (DataServiceId), absent for a delete."""
    headers = entity_headers(item) if item else {}
    headers["DataServiceVersion"] = "3.0"
    if url:
        # An action on a resource: the API declares its ETag and Last-Modified too; one
        # without an eTag of its own (a node) answers with a snapshot's.
        headers["DataServiceId"] = url
        if "ETag" not in headers:
            headers.update(snapshot_headers())
    return Response(b"", status, headers)


def error_response(exc: BatchServiceError, request_id: str, head: bool = False) -> Response:
    """The service's BatchError JSON for ``exc`` (no body for HEAD)."""
    body = b"" if head or exc.status == 304 else dumps(exc.body(request_id))
    return Response(body, exc.status, media_type=JSON_TYPE)


# --- routing on the raw path ------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One operation: method, path pattern ("{}" one segment, "{**}" the rest), REST op id."""

    method: str
    pattern: tuple[str, ...]
    op: str
    handler: Handler

    @property
    def control(self) -> bool:
        return self.pattern[0] == "_emulator"


def route(method: str, path: str, op: str, handler: Handler) -> Route:
    """``route("GET", "pools/{}", "Pool_Get", handler)``."""
    return Route(method, tuple(path.strip("/").split("/")), op, handler)


def _unquote(segment: str) -> str:
    """A percent-decoded path segment; an encoded NUL (%00) names nothing: 400 InvalidUri."""
    value = unquote(segment)
    if "\x00" in value:
        raise BatchServiceError(
            400,
            "InvalidUri",
            "The requested URI does not represent any resource on the server.",
            [("Reason", "The path contains a NUL character (%00).")],
        )
    return value


def _match(pattern: tuple[str, ...], segs: list[str]) -> tuple[str, ...] | None:
    params: list[str] = []
    for i, part in enumerate(pattern):
        if part == "{**}":
            rest = segs[i:]
            return (*params, "/".join(_unquote(s) for s in rest)) if rest else None
        if i >= len(segs) or not segs[i]:
            return None
        if part == "{}":
            params.append(_unquote(segs[i]))
        elif segs[i].lower() != part:
            return None
    return tuple(params) if len(segs) == len(pattern) else None


def resolve(routes: tuple[Route, ...], method: str, raw_path: str) -> tuple[Route, tuple[str, ...]]:
    """The route and its unquoted parameters; 404 for no such path, 405 for the wrong verb."""
    segs = raw_path.strip("/").split("/")
    path_known = False
    for candidate in routes:
        params = _match(candidate.pattern, segs)
        if params is None:
            continue
        if candidate.method == method:
            return candidate, params
        path_known = True
    if path_known:
        raise BatchServiceError(
            405, "UnsupportedHttpVerb", f"The resource does not support the HTTP verb {method}."
        )
    if segs[0].lower() in _BATCH_COLLECTIONS:
        raise errors.resource_not_found(
            f"The local Batch emulator does not implement {method} {raw_path}: it emulates the "
            "operations of the Batch API 2025-06-01, and this is not one of them."
        )
    raise errors.resource_not_found(
        "The requested URI does not represent any resource on the server."
    )


# --- conditional requests ---------------------------------------------------------------
_CONDITIONAL = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")


def has_conditions(req: Req) -> bool:
    """Whether the request carries any conditional header (then the resource is read first)."""
    return any(req.headers.get(h) for h in _CONDITIONAL)


def _etags(value: str) -> list[str]:
    return [v.strip().removeprefix("W/").strip('"') for v in value.split(",") if v.strip()]


def _http_date(req: Req, name: str) -> _dt.datetime:
    value = req.headers[name]
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise errors.invalid_header(name, value) from None


def check_conditions(req: Req, item: Mapping[str, Any]) -> None:
    """412 ConditionNotMet (writes) or 304 (reads) when the headers do not hold for ``item``."""
    read = req.method in ("GET", "HEAD")
    etag = str(item.get("eTag", ""))
    modified = _parse_iso(str(item["lastModified"])).replace(microsecond=0)
    if req.headers.get("if-match"):
        tags = _etags(req.headers["if-match"])
        if "*" not in tags and etag not in tags:
            raise errors.condition_not_met()
    if req.headers.get("if-unmodified-since") and modified > _http_date(req, "if-unmodified-since"):
        raise errors.condition_not_met()
    not_modified = False
    if req.headers.get("if-none-match"):
        tags = _etags(req.headers["if-none-match"])
        not_modified = "*" in tags or etag in tags
    elif read and req.headers.get("if-modified-since"):
        not_modified = modified <= _http_date(req, "if-modified-since")
    if not_modified:
        if read:
            raise BatchServiceError(304, "NotModified", "The resource has not been modified.")
        raise errors.condition_not_met()
