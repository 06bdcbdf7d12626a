"""SharedKey authentication, exactly as the Batch SDKs sign requests.

String to sign (azure-batch 15.x ``_patch.py`` BatchSharedKeyAuthPolicy, and the msrest-era
``batch_auth.py``, which differ only in how an empty body's Content-Length is written)::

    VERB \\n content-encoding \\n content-language \\n content-length \\n content-md5 \\n
    content-type \\n date \\n if-modified-since \\n if-match \\n if-none-match \\n
    if-unmodified-since \\n range \\n
    ocp-*:value \\n ...            (every header whose name contains "ocp-", sorted)
    /account/raw/path             (the path as sent, still percent-encoded)
    \\nname:value ...              (query, parse_qs-decoded, sorted by name, first value only)

The signature is base64(HMAC-SHA256(base64decode(key), utf-8 string)). ``sign`` serves both the
verifier here and the emulator's own control client, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import parse_qs

from batchflow.emulator import errors
from batchflow.errors import ConfigError

MAX_CLOCK_SKEW = 15 * 60  # seconds, Azure Storage's and Batch's window for a request date
HEADERS_TO_SIGN = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def decode_key(key: str) -> bytes:
    """The raw HMAC key behind a base64 account key; ConfigError if it is not base64."""
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ConfigError("the account key must be base64 (like the keys Azure issues)") from None
    if not raw:
        raise ConfigError("the account key must not be empty")
    return raw


def string_to_sign(
    method: str, path: str, query: str, headers: Mapping[str, str], account: str
) -> str:
    """The canonical string for a request. ``headers`` maps lower-case names to values."""
    lines = [method]
    lines.extend(headers.get(name, "") for name in HEADERS_TO_SIGN)
    text = "\n".join(lines) + "\n"
    ocp = sorted((k, v) for k, v in headers.items() if "ocp-" in k and v)
    text += "".join(f"{k}:{v}\n" for k, v in ocp)
    text += f"/{account}{path}"
    params = parse_qs(query)
    for name in sorted(params):
        value = params[name][0]
        if value:
            text += f"\n{name}:{value}"
    return text


def sign(
    method: str, path: str, query: str, headers: Mapping[str, str], account: str, key: bytes
) -> str:
    """The SharedKey signature (base64) for a request; ``key`` is the decoded account key."""
    canonical = string_to_sign(method, path, query, headers, account)
    digest = hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization(
    method: str, path: str, query: str, headers: Mapping[str, str], account: str, key: bytes
) -> str:
    """The whole ``Authorization`` header value: ``SharedKey account:signature``."""
    return f"SharedKey {account}:{sign(method, path, query, headers, account, key)}"


def _length_variants(headers: Mapping[str, str]) -> list[Mapping[str, str]]:
    """Header views to try: 15.x signs an absent Content-Length as "0" on non-GET/HEAD, the
    msrest generation signs what ``requests`` had set by then, which may be "" or "0"."""
    length = headers.get("content-length", "")
    if length not in ("", "0"):
        return [headers]
    swapped = dict(headers)
    swapped["content-length"] = "0" if length == "" else ""
    return [headers, swapped]


def check_fresh(headers: Mapping[str, str], now: float | None = None) -> None:
    """Refuse a request dated unparseably or more than 15 minutes from now, as Azure does:
    a captured request cannot be replayed later. ``ocp-date`` wins over ``Date``."""
    value = headers.get("ocp-date") or headers.get("date", "")
    try:
        sent = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError):
        raise errors.authentication_failed(
            f"The request date '{value}' is not an RFC 1123 date; the date is out of range."
        ) from None
    skew = (time.time() if now is None else now) - sent
    if abs(skew) > MAX_CLOCK_SKEW:
        raise errors.authentication_failed(
            f"The request date '{value}' is out of range: it must be within "
            f"{MAX_CLOCK_SKEW // 60} minutes of the server's time."
        )


class Verifier:
    """Checks SharedKey signatures for one account. Raises 403 AuthenticationFailed."""

    def __init__(self, account: str, key: str) -> None:
        self.account = account
        self._key = decode_key(key)

    def verify(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> None:
        """Accept the request or raise; the expected signature is never revealed."""
        header = headers.get("authorization", "")
        if not header:
            raise errors.authentication_failed("The Authorization header was not provided.")
        scheme, _, credential = header.partition(" ")
        if scheme != "SharedKey":
            raise errors.authentication_failed(
                f"The authentication scheme '{scheme}' is not supported by the local emulator; "
                "use SharedKey (an account name and key)."
            )
        account, _, signature = credential.strip().partition(":")
        if account != self.account:
            raise errors.authentication_failed(f"The account '{account}' does not exist.")
        if not headers.get("ocp-date") and not headers.get("date"):
            raise errors.authentication_failed("Neither an ocp-date nor a Date header was given.")
        for view in _length_variants(headers):
            expected = sign(method, path, query, view, self.account, self._key)
            if hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
                check_fresh(headers)
                return
        raise errors.authentication_failed(
            "The MAC signature found in the HTTP request is not the same as any computed "
            "signature. Check the account key and that the request was not altered."
        )
