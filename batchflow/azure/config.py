"""The Azure account, read from the environment the way the az CLI names it.

Batch: ``AZURE_BATCH_ENDPOINT`` (required: the region cannot be guessed), with
``AZURE_BATCH_ACCOUNT`` and ``AZURE_BATCH_ACCESS_KEY`` for SharedKey; without a key,
azure-identity's DefaultAzureCredential (Entra ID).
Storage: ``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT`` with
``AZURE_STORAGE_KEY`` (or DefaultAzureCredential, then SAS are user-delegation SAS).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from batchflow.errors import ConfigError

# host[:port], the host a DNS name, an IPv4 address or a bracketed IPv6 address.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
BATCH_VARS = ("AZURE_BATCH_ENDPOINT", "AZURE_BATCH_ACCOUNT", "AZURE_BATCH_ACCESS_KEY")


@dataclass(frozen=True)
class AzureAccount:
    """Where and how to reach Batch and Storage (``repr`` never shows a secret)."""

    batch_endpoint: str
    batch_account: str
    batch_key: str | None
    storage_connection_string: str | None
    storage_account: str | None
    storage_key: str | None

    def __repr__(self) -> str:
        return f"AzureAccount(batch={self.batch_endpoint!r}, storage={self.storage_account!r})"


def batch_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names a Batch account at all."""
    env = os.environ if env is None else env
    return bool(env.get("AZURE_BATCH_ENDPOINT") or env.get("AZURE_BATCH_ACCOUNT"))


def _endpoint(env: Mapping[str, str]) -> str:
    endpoint = env.get("AZURE_BATCH_ENDPOINT", "").strip()
    if not endpoint:
        raise ConfigError(
            "AZURE_BATCH_ENDPOINT is not set (e.g. https://<account>.<region>.batch.azure.com)"
        )
    if "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not _HOST.fullmatch(parts.netloc):
        raise ConfigError(
            "AZURE_BATCH_ENDPOINT is not an http(s) URL of a Batch account "
            "(e.g. https://<account>.<region>.batch.azure.com)"
        )
    return endpoint.rstrip("/")


def check_key(name: str, key: str | None) -> None:
    """An account key is base64; say so now rather than fail on the first signed request.
    The value is never echoed: it is a secret, even when mistyped."""
    if key is None:
        return
    try:
        base64.b64decode(key, validate=True)
    except ValueError:
        raise ConfigError(f"{name} is not a base64 account key") from None


def _account_from_endpoint(endpoint: str) -> str:
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    return host.split(".", 1)[0]


def read_account(env: Mapping[str, str] | None = None) -> AzureAccount:
    """The account settings; a ConfigError naming the first missing variable."""
    env = os.environ if env is None else env
    endpoint = _endpoint(env)
    account = env.get("AZURE_BATCH_ACCOUNT", "").strip() or _account_from_endpoint(endpoint)
    key = env.get("AZURE_BATCH_ACCESS_KEY", "").strip() or None
    check_key("AZURE_BATCH_ACCESS_KEY", key)
    storage_key = env.get("AZURE_STORAGE_KEY", "").strip() or None
    check_key("AZURE_STORAGE_KEY", storage_key)
    conn = env.get("AZURE_STORAGE_CONNECTION_STRING", "").strip() or None
    storage = env.get("AZURE_STORAGE_ACCOUNT", "").strip() or None
    if not conn and not storage:
        raise ConfigError(
            "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT) is not "
            "set: batchflow needs a storage account for inputs and outputs"
        )
    return AzureAccount(endpoint, account, key, conn, storage, storage_key)


def default_credential() -> Any:
    """azure-identity's DefaultAzureCredential (az login, managed identity, env vars)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
