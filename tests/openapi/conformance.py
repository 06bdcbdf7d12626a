"""Response conformance: each answer the emulator gives at api-version 2025-06-01, checked
against what the Batch OpenAPI definition (``batch-2025-06-01.json``, see SOURCE.md) declares
for its operation: the status, the declared headers, the body's schema.

Operations are found by method and path (the route's pattern against the spec's path
templates), so a route added to ``http/app.py`` is checked as soon as it exists, whatever its
name. Older api-versions have older shapes and are not checked here.

The schema is swagger 2.0, read as JSON Schema with three additions: a string of
``format: int64`` must hold an integer (the API sends int64 as strings); an object declared
with properties takes no others (a field the API does not have is a mismatch, not noise);
a success body names its ``odata.metadata``. With ``$select`` a body may omit required
properties (it holds only those selected).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from batchflow.emulator.http.recording import Exchange

SPEC_FILE = Path(__file__).with_name("batch-2025-06-01.json")
API_VERSION = "2025-06-01"
# Headers every answer carries whatever the spec lists (and which need no request to ask).
_CONDITIONAL_HEADERS = frozenset({"client-request-id"})
# Extra top-level keys of every JSON answer of the service (OData's, not the model's).
_ODATA_KEYS = ("odata.metadata",)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: tuple[str, ...]
    responses: Mapping[str, Any]


@functools.cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return spec


@functools.cache
def operations() -> tuple[Operation, ...]:
    found = []
    for path, methods in _spec()["paths"].items():
        for method, op in methods.items():
            parts = tuple(path.strip("/").split("/"))
            found.append(Operation(op["operationId"], method.upper(), parts, op["responses"]))
    return tuple(found)


def operation_for(method: str, pattern: tuple[str, ...]) -> Operation | None:
    """The spec's operation of a route: ``{}`` matches one ``{name}``, ``{**}`` the last."""
    for op in operations():
        if op.method != method or len(op.path) != len(pattern):
            continue
        if all(_same_segment(mine, theirs) for mine, theirs in zip(pattern, op.path, strict=True)):
            return op
    return None


def _same_segment(mine: str, theirs: str) -> bool:
    if mine in ("{}", "{**}"):
        return theirs.startswith("{")
    return mine.lower() == theirs.lower()


def _strict(node: Any, *, drop_required: bool) -> Any:
    """The definitions as JSON Schema, with the additions this module's doc names."""
    if isinstance(node, list):
        return [_strict(item, drop_required=drop_required) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v, drop_required=drop_required) for k, v in node.items()}
    if out.get("type") == "string" and out.get("format") == "int64":
        out["pattern"] = r"^-?[0-9]+$"
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if drop_required:
        out.pop("required", None)
    if out.get("type") == "file":  # a download: bytes, not JSON
        return {}
    return out


@functools.cache
def _definitions(drop_required: bool) -> dict[str, Any]:
    defs: dict[str, Any] = _strict(_spec()["definitions"], drop_required=drop_required)
    return defs


# Keywords Draft 4 would only skip over: dropped, as every keyword costs a lookup per value.
_INERT = frozenset({"readOnly", "format", "description", "x-ms-pageable"})


def _inline(node: Any, defs: Mapping[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """``node`` with each ``$ref`` replaced by its definition (a recursive one is kept as a
    reference): resolving references is most of what validation costs otherwise."""
    if isinstance(node, list):
        return [_inline(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in stack:
            return {"$ref": ref}
        return _inline(defs[name], defs, (*stack, name))
    return {k: _inline(v, defs, stack) for k, v in node.items() if k not in _INERT}


@functools.cache
def _validator(ref: str, drop_required: bool) -> jsonschema.Draft4Validator:
    """The body's own definition, widened by the OData keys every answer carries, its
    references inlined; the definitions ride along for any recursive one left."""
    defs = _definitions(drop_required)
    name = ref.rsplit("/", 1)[-1]
    definition = _inline(defs[name], defs, (name,))
    props = dict(definition.get("properties", {}))
    for key in _ODATA_KEYS:
        props[key] = {"type": "string"}
    schema: dict[str, Any] = {**definition, "properties": props, "definitions": defs}
    if not drop_required:
        schema["required"] = [*definition.get("required", []), *_ODATA_KEYS]
    return jsonschema.Draft4Validator(schema)


def _schema_problems(ref: str, body: Any, *, selected: bool) -> Iterator[str]:
    validator = _validator(ref, selected)
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        yield f"body {where}: {error.message[:300]}"


def problems(exchange: Exchange) -> list[str]:
    """What in ``exchange`` the definition does not allow (empty: it conforms)."""
    if exchange.api_version != API_VERSION:
        return []
    op = operation_for(exchange.method, exchange.pattern)
    if op is None:
        return [f"{exchange.method} /{'/'.join(exchange.pattern)}: no such operation in the API"]
    where = f"{op.operation_id} ({exchange.operation}) {exchange.status}"
    return [f"{where}: {p}" for p in _problems(op, exchange)]


def _problems(op: Operation, exchange: Exchange) -> Iterator[str]:
    status = str(exchange.status)
    declared = op.responses.get(status)
    if declared is None:
        if exchange.status < 400 and exchange.status != 304:
            yield f"status {status} is not declared (declared: {sorted(op.responses)})"
            return
        declared = op.responses.get("default", {})
    headers = {k.lower(): v for k, v in exchange.headers.items()}
    yield from _header_problems(declared, headers, exchange)
    yield from _body_problems(declared, exchange)


def _header_problems(
    declared: Mapping[str, Any], headers: Mapping[str, str], exchange: Exchange
) -> Iterator[str]:
    if "request-id" not in headers:
        yield "header request-id is missing"
    asked = exchange.request_headers.get("return-client-request-id", "").lower() == "true"
    if asked and headers.get("client-request-id") != exchange.request_headers.get(
        "client-request-id", ""
    ):
        yield "header client-request-id does not echo the request's"
    for name in declared.get("headers", {}):
        if name.lower() in _CONDITIONAL_HEADERS or name.lower() == "request-id":
            continue
        if not headers.get(name.lower()):
            yield f"header {name} is declared but missing"


def _body_problems(declared: Mapping[str, Any], exchange: Exchange) -> Iterator[str]:
    schema = declared.get("schema")
    if exchange.body is None or exchange.method == "HEAD" or exchange.status == 304:
        if exchange.body:
            yield "a HEAD or 304 answer has a body"
        return
    if schema is None:
        if exchange.body.strip():
            yield f"body declared empty, got {exchange.body[:120]!r}"
        return
    if schema.get("type") == "file":
        return
    selected = bool(exchange.query.get("$select"))
    yield from _body_schema_problems(schema["$ref"], exchange.body, selected)


@functools.lru_cache(maxsize=512)
def _body_schema_problems(ref: str, raw: bytes, selected: bool) -> tuple[str, ...]:
    """The schema's verdict on one body; a poll that sees the same body again is not
    validated again."""
    try:
        body = json.loads(raw)
    except ValueError:
        return (f"body is not JSON: {raw[:120]!r}",)
    return tuple(_schema_problems(ref, body, selected=selected))


def strict_definitions() -> dict[str, Any]:
    """The definitions as this module validates them (a copy, for tests to inspect)."""
    return copy.deepcopy(_strict(_spec()["definitions"], drop_required=False))
