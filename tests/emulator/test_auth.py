"""SharedKey: the emulator verifies exactly what the real SDK signs, and refuses everything else
with 403 AuthenticationFailed, never telling the expected signature."""

from __future__ import annotations

import base64
import email.utils
import json

import httpx
import pytest
from azure.batch import BatchClient
from azure.batch._patch import BatchSharedKeyAuthPolicy
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.http import auth
from batchflow.errors import ConfigError

API = "api-version=2025-06-01"


def _sdk_signed(
    method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> HttpRequest:
    """A request signed by the SDK's own SharedKey policy (no network involved)."""
    request = HttpRequest(method, url, headers=headers or {}, content=body)
    policy = BatchSharedKeyAuthPolicy(AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
    policy.on_request(PipelineRequest(request, PipelineContext(None)))
    return request


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body"),
    [
        ("GET", "/pools/p1", "api-version=2025-06-01&$select=id,state", {}, None),
        (
            "GET",
            "/jobs/j1/tasks",
            "api-version=2025-06-01&$filter=state%20eq%20%27completed%27"
            "&maxresults=5&$skiptoken=abc%2Bdef",
            {},
            None,
        ),
        (
            "POST",
            "/pools",
            API,
            {"content-type": "application/json; odata=minimalmetadata"},
            b'{"id": "p1"}',
        ),
        ("DELETE", "/jobs/j1", API + "&force=true", {}, None),
        (
            "GET",
            "/jobs/j1/tasks/t1/files/wd%2Fout%20put.txt",
            API,
            {"ocp-range": "bytes=0-9", "If-Match": '"0x8D1"'},
            None,
        ),
    ],
)
def test_verifier_accepts_what_the_sdk_signs(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes | None
) -> None:
    request = _sdk_signed(method, f"http://127.0.0.1:1{path}?{query}", headers, body)
    sent = {k.lower(): v for k, v in request.headers.items()}
    if body is not None or method not in ("GET", "HEAD"):  # what the transport puts on the wire
        sent["content-length"] = str(len(body or b""))
    signature = sent["authorization"].split(":", 1)[1]
    assert auth.sign(method, path, query, sent, DEV_ACCOUNT, auth.decode_key(DEV_KEY)) == signature
    auth.Verifier(DEV_ACCOUNT, DEV_KEY).verify(method, path, query, sent)


def test_msrest_style_empty_content_length_is_accepted() -> None:
    # msrest signs an empty body's Content-Length as "" but the wire carries "Content-Length: 0".
    headers = {"ocp-date": email.utils.formatdate(usegmt=True)}
    headers["authorization"] = auth.authorization(
        "DELETE", "/pools/p1", API, headers, DEV_ACCOUNT, auth.decode_key(DEV_KEY)
    )
    auth.Verifier(DEV_ACCOUNT, DEV_KEY).verify(
        "DELETE", "/pools/p1", API, {**headers, "content-length": "0"}
    )


def test_a_key_that_is_not_base64_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base64"):
        auth.decode_key("not base64 at all!")


def _send(
    emu: object,
    method: str,
    path: str,
    query: str = API,
    *,
    body: bytes | None = None,
    sign_path: str | None = None,
    sign_query: str | None = None,
    sign_length: int | None = None,
    headers: dict[str, str] | None = None,
    date: bool = True,
) -> httpx.Response:
    """A raw request signed for (sign_path, sign_query, sign_length) but sent as given."""
    hdrs = dict(headers or {})
    if date:
        hdrs["ocp-date"] = email.utils.formatdate(usegmt=True)
    if body is not None:
        hdrs["content-type"] = "application/json; odata=minimalmetadata"
    signed = dict(hdrs)
    length = len(body) if sign_length is None and body is not None else sign_length
    if length is not None:
        signed["content-length"] = str(length)
    if "authorization" not in hdrs:
        hdrs["authorization"] = auth.authorization(
            method,
            sign_path or path,
            query if sign_query is None else sign_query,
            signed,
            emu.account,
            auth.decode_key(emu.key),
        )  # type: ignore[attr-defined]
    return httpx.request(
        method,
        f"{emu.url}{path}?{query}",  # type: ignore[attr-defined]
        headers=hdrs,
        content=body,
    )


def _auth_error(resp: httpx.Response) -> str:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["code"] == "AuthenticationFailed"
    detail = {v["key"]: v["value"] for v in body["values"]}["AuthenticationErrorDetail"]
    return str(detail)


def test_a_correctly_signed_raw_request_is_served(emulator: object) -> None:
    assert _send(emulator, "GET", "/pools").status_code == 200


@pytest.mark.parametrize("case", ["path", "query", "body", "missing", "bearer", "date"])
def test_tampered_or_unsigned_requests_are_refused(emulator: object, case: str) -> None:
    if case == "path":
        resp = _send(emulator, "GET", "/pools/other", sign_path="/pools/mine")
    elif case == "query":
        resp = _send(
            emulator, "GET", "/pools", API + "&maxresults=2", sign_query=API + "&maxresults=1"
        )
    elif case == "body":
        resp = _send(
            emulator,
            "POST",
            "/jobs",
            body=b'{"id": "j-evil", "poolInfo": {}}',
            sign_length=len(b'{"id": "j1"}'),
        )
    elif case == "missing":
        resp = _send(emulator, "GET", "/pools", headers={"authorization": ""})
    elif case == "bearer":
        resp = _send(emulator, "GET", "/pools", headers={"authorization": "Bearer abc.def"})
    else:
        resp = _send(emulator, "GET", "/pools", date=False)
    detail = _auth_error(resp)
    if case == "bearer":
        assert "Bearer" in detail and "SharedKey" in detail
    if case == "missing":
        assert "Authorization" in detail


def test_wrong_key_through_the_sdk_never_reveals_the_signature(emulator: object) -> None:
    wrong = base64.b64encode(b"this is not the key of the account").decode()
    client = BatchClient(
        emulator.url,  # type: ignore[attr-defined]
        AzureNamedKeyCredential(emulator.account, wrong),
    )  # type: ignore[attr-defined]
    captured: list[str] = []

    def grab(response: object) -> None:
        captured.append(response.http_response.text())  # type: ignore[attr-defined]

    with pytest.raises(HttpResponseError) as info:
        client.get_pool("p1", raw_response_hook=grab)
    assert info.value.status_code == 403
    assert info.value.error.code == "AuthenticationFailed"
    good = _sdk_signed("GET", f"{emulator.url}/pools/p1?{API}")  # type: ignore[attr-defined]
    expected_sig = good.headers["Authorization"].split(":", 1)[1]
    assert captured and expected_sig not in captured[0]
    assert "signature" in json.dumps(json.loads(captured[0])).lower()


def test_unknown_account_is_refused(emulator: object) -> None:
    client = BatchClient(
        emulator.url,  # type: ignore[attr-defined]
        AzureNamedKeyCredential("someoneelse", emulator.key),
    )  # type: ignore[attr-defined]
    with pytest.raises(HttpResponseError) as info:
        client.get_pool("p1")
    assert info.value.status_code == 403
    assert info.value.error.code == "AuthenticationFailed"


def test_a_repeated_query_parameter_cannot_smuggle_an_unsigned_value(emulator: object) -> None:
    # The signature covers only the first value of a parameter: a second copy is refused
    # rather than silently ignored (see test_http_query_params for each parameter).
    resp = _send(emulator, "GET", "/pools", API + "&maxresults=1&maxresults=abc")
    assert resp.status_code == 400, resp.text
