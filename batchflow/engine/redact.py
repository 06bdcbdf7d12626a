"""Keep secrets out of every message: SAS signatures, account keys, connection strings."""

from __future__ import annotations

import re

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
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text
