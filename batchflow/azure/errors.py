"""SDK exceptions -> ``batchflow.errors``, in one place (the httpx ``map_exceptions`` habit).

Every adapter method runs inside ``translated(what)``; the engine only ever sees
``NotFound``, ``Conflict``, ``TransientError`` or ``BackendError``, with the service's error
code and request id, and a message with any SAS signature or key removed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from batchflow.azure.transport import timeouts
from batchflow.errors import (
    TIMED_OUT,
    UNREACHABLE,
    BackendError,
    Conflict,
    NotFound,
    TransientError,
)
from batchflow.redact import redact

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _headers(exc: HttpResponseError) -> Mapping[str, str]:
    return getattr(exc.response, "headers", None) or {}


def _code(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or getattr(exc, "error_code", None)
    if not code and exc.response is not None:
        code = _headers(exc).get("x-ms-error-code")
    return str(getattr(code, "value", code) or "")


def _request_id(exc: HttpResponseError) -> str:
    if exc.response is None:
        return ""
    headers = _headers(exc)
    return str(headers.get("request-id") or headers.get("x-ms-request-id") or "")


def _message(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or exc.message or str(exc)
    # The service appends RequestId/Time lines; the request id is carried separately.
    first = str(text).strip().splitlines()[0] if str(text).strip() else exc.reason or ""
    return redact(first + _details(exc))


def _details(exc: HttpResponseError) -> str:
    """Which property the service refused and why (the BatchError's ``values``): "the value
    ... is invalid" alone does not say which one."""
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else None
    except (ValueError, AzureError):  # no JSON body: the message stands alone
        return ""
    values = body.get("values") if isinstance(body, dict) else None
    if not isinstance(values, list):
        return ""
    found = {
        str(v.get("key")): str(v.get("value"))
        for v in values
        if isinstance(v, dict) and v.get("key") in ("PropertyName", "PropertyValue", "Reason")
    }
    if "PropertyName" not in found:
        return ""
    detail = found["PropertyName"]
    if "PropertyValue" in found:
        detail = f"{detail} = {found['PropertyValue']!r}"
    if found.get("Reason"):
        detail = f"{detail}: {found['Reason'].rstrip('.')}"
    return f" ({detail})"


def translate(exc: AzureError, what: str, where: str = "") -> BackendError:
    """The ``batchflow.errors`` exception for an SDK failure while doing ``what`` against the
    endpoint ``where`` (named when it cannot be reached)."""
    service = f"the service at {where}" if where else "the service"
    if isinstance(exc, ServiceResponseTimeoutError):  # sent; no answer in time
        _, read = timeouts()
        return TransientError(
            f"{what}: no answer from {service} within the read timeout ({read:g} s)",
            code=TIMED_OUT,
        )
    if isinstance(exc, ServiceRequestTimeoutError):
        connect, _ = timeouts()
        return TransientError(
            f"{what}: {service} is unreachable, no connection within the connect timeout "
            f"({connect:g} s)",
            code=UNREACHABLE,
        )
    if isinstance(exc, ServiceRequestError):  # never sent: refused, unresolvable
        return TransientError(
            f"{what}: connection failed, {service} is unreachable (check the endpoint "
            f"and the network): {redact(str(exc))}",
            code=UNREACHABLE,
        )
    if isinstance(exc, ServiceResponseError):  # sent, then the connection dropped
        return TransientError(
            f"{what}: connection to {service} failed: {redact(str(exc))}", code="ConnectionError"
        )
    if not isinstance(exc, HttpResponseError):
        return BackendError(f"{what}: {redact(str(exc))}")
    code, rid = _code(exc), _request_id(exc)
    message = f"{what}: {_message(exc)}"
    status = exc.status_code or 0
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return BackendError(
            f"{message} (check the account name and key)", code=code, request_id=rid
        )
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return NotFound(message, code=code, request_id=rid)
    if isinstance(exc, ResourceExistsError) or status == 409:
        return Conflict(message, code=code, request_id=rid)
    if status in _TRANSIENT_STATUS:
        return TransientError(message, code=code, request_id=rid)
    return BackendError(message, code=code, request_id=rid)


@contextlib.contextmanager
def translated(what: str, where: str = "") -> Iterator[None]:
    """Run SDK calls; re-raise any SDK failure as a ``BackendError`` naming ``what`` (and
    the endpoint ``where``, when it could not be reached)."""
    try:
        yield
    except AzureError as exc:
        raise translate(exc, what, where) from exc
