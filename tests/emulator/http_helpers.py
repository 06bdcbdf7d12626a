"""Raw REST requests to the emulator, SharedKey-signed with its key, so the tests below the SDK
can send what the SDK never would (malformed bodies, odd headers, stale dates)."""

from __future__ import annotations

import email.utils
import json
from typing import Any

import httpx

from batchflow.emulator.http import auth

API = "api-version=2025-06-01"
JSON_TYPE = "application/json; odata=minimalmetadata"


def call(
    emu: Any,
    method: str,
    path: str,
    query: str = API,
    *,
    body: object = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A SharedKey-signed request, body given as JSON (``body``) or bytes (``raw``)."""
    hdrs = {"ocp-date": email.utils.formatdate(usegmt=True), **(headers or {})}
    content = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if content is not None:
        hdrs.setdefault("content-type", JSON_TYPE)
        hdrs["content-length"] = str(len(content))
    hdrs["authorization"] = auth.authorization(
        method, path, query, hdrs, emu.account, auth.decode_key(emu.key)
    )
    return httpx.request(
        method,
        f"{emu.url}{path}?{query}" if query else f"{emu.url}{path}",
        headers=hdrs,
        content=content,
        timeout=30,
    )
