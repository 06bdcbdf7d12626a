"""The Azure account, read from the environment the way the az CLI names it.

Batch: ``AZURE_BATCH_ENDPOINT`` (required: the region cannot be guessed), with
``AZURE_BATCH_ACCOUNT`` and ``AZURE_BATCH_ACCESS_KEY`` for SharedKey; without a key,
azure-identity's DefaultAzureCredential (Entra ID).
Storage: ``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT`` with
``AZURE_STORAGE_KEY`` (or DefaultAzureCredential, then SAS are user-delegation SAS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchflow.errors import ConfigError

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
    if not endpoint.startswith(("https://", "http://")):
        endpoint = f"https://{endpoint}"
    return endpoint.rstrip("/")


def _account_from_endpoint(endpoint: str) -> str:
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    return host.split(".", 1)[0]


def read_account(env: Mapping[str, str] | None = None) -> AzureAccount:
    """The account settings; a ConfigError naming the first missing variable."""
    env = os.environ if env is None else env
    endpoint = _endpoint(env)
    account = env.get("AZURE_BATCH_ACCOUNT", "").strip() or _account_from_endpoint(endpoint)
    key = env.get("AZURE_BATCH_ACCESS_KEY", "").strip() or None
    conn = env.get("AZURE_STORAGE_CONNECTION_STRING", "").strip() or None
    storage = env.get("AZURE_STORAGE_ACCOUNT", "").strip() or None
    if not conn and not storage:
        raise ConfigError(
            "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT) is not "
            "set: batchflow needs a storage account for inputs and outputs"
        )
    return AzureAccount(
        endpoint, account, key, conn, storage, env.get("AZURE_STORAGE_KEY", "").strip() or None
    )


def default_credential() -> Any:
    """azure-identity's DefaultAzureCredential (az login, managed identity, env vars)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
