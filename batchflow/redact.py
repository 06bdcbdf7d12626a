"""Keep secrets out of what batchflow shows.

Two redactors, for two kinds of text. batchflow's own messages and logs go through
``redact``: patterns (SAS signatures, ``*_KEY=`` assignments, connection strings, bearer
tokens) plus every known secret value. A task's output is the user's data, shown byte for
byte by ``redact_task_output``: only the secret values batchflow itself holds or minted
(account keys, the emulator's key, SAS tokens), registered with ``remember_secret`` where
they are read or minted, are replaced, wherever they appear. A pattern there would rewrite
``page 2 of 5`` after a line ending in ``TOKEN:``.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, quote, urlsplit

_PATTERNS = (
    # SAS signature in a query string: ...&sig=abc%2F...=&...
    (re.compile(r"(?i)(\bsig=)[^&\s\"'<>]+"), r"\1REDACTED"),
    # the same, percent-encoded once more (a SAS URL inside another URL): sig%3Dabc%2B...
    (re.compile(r"(?i)((?<![a-z])sig%3D)(?:(?!%26)[^&\s\"'<>])+"), r"\1REDACTED"),
    # env-style assignments: AZURE_BATCH_ACCESS_KEY=..., export FOO_SECRET="..."
    (
        re.compile(
            r"(?i)\b(\w*(?:_KEY|_SECRET|_PASSWORD|_TOKEN|_CONNECTION_STRING))"
            r"(\s*[=:]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s\"']+)"
        ),
        r"\1\2REDACTED",
    ),
    # JSON members: "accountKey": "...", "key": "...", "sharedAccessSignature": "..."
    (
        re.compile(
            r"(?i)(\"(?:\w*key|\w*secret|password|\w*token|sig|signature|"
            r"sharedAccessSignature|connectionString)\"\s*:\s*\")(?:[^\"\\]|\\.)*(\")"
        ),
        r"\1REDACTED\2",
    ),
    # connection-string keys: AccountKey=...; SharedAccessSignature=...;
    (
        re.compile(r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature)=[^;\s\"']+"),
        r"\1=REDACTED",
    ),
    # SharedKey authorization header: SharedKey account:signature
    (re.compile(r"(SharedKey [^:\s]+:)[^\s\"']+"), r"\1REDACTED"),
    # bearer tokens
    (re.compile(r"(?i)(Bearer )[A-Za-z0-9\-_.~+/=]+"), r"\1REDACTED"),
)


def redact(text: str) -> str:
    """``text`` with every secret it may carry replaced by ``REDACTED``."""
    text = redact_task_output(text)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


MASK = "REDACTED"
_MIN_LEN = 8  # shorter "secrets" (an empty key, a test's "x") would mangle any text
_known: set[str] = set()
_lock = threading.Lock()


def remember_secret(*values: str | None) -> None:
    """Register secret values (and their URL-encoded forms, as they travel in URLs) to be
    redacted from everything shown, task output included."""
    with _lock:
        for value in values:
            if value and len(value) >= _MIN_LEN:
                _known.update({value, quote(value, safe="")})


def remember_sas(url: str) -> None:
    """Register the SAS token of a signed URL (its query) and its signature."""
    query = urlsplit(url).query
    if "sig=" in query:
        remember_secret(query, *(v for k, v in parse_qsl(query) if k == "sig"))


def _values() -> list[str]:
    with _lock:
        return sorted(_known, key=len, reverse=True)  # a longer value before its parts


def redact_task_output(text: str) -> str:
    """``text`` (a task's output) with only the known secret values replaced."""
    for value in _values():
        text = text.replace(value, MASK)
    return text


def redact_task_bytes(data: bytes) -> bytes:
    """``redact_task_output`` on raw bytes: output is shown as the task wrote it."""
    for value in _values():
        data = data.replace(value.encode("utf-8", "surrogateescape"), MASK.encode())
    return data
