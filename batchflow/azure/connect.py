"""Build the adapters: a ``BatchService`` and a ``BlobStore`` from settings.

azure-storage-blob is imported only when a blob store is asked for: the local target with
its directory store never needs it (it costs ~0.15 s of start-up)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from batchflow.azure.batch import AzureBatchService
from batchflow.azure.config import AzureAccount, default_credential
from batchflow.azure.transport import requests_transport
from batchflow.net import is_loopback_url

CONNECT_RETRIES = 3

if TYPE_CHECKING:
    from batchflow.azure.blob import AzureBlobStore


def batch_service(
    endpoint: str,
    account: str,
    key: str | None,
    *,
    fast: bool = False,
    health: Callable[[], None] | None = None,
) -> AzureBatchService:
    """A BatchService. ``fast`` (loopback emulator): short retry back-off, more status
    retries, since server errors there are injected faults, not a loaded service.
    ``health`` (an in-process emulator's ``check``) runs before every attempt of every
    request and raises why that emulator stopped: the call then ends at once with that
    reason instead of retrying a service that will never answer again."""
    credential: Any = AzureNamedKeyCredential(account, key) if key else default_credential()
    # Bounded: a wrong or unreachable endpoint must fail in seconds, not minutes. Status
    # retries stay generous (throttling and 5xx are what Azure asks clients to retry);
    # connection retries are few, since the engine retries transient failures once more.
    retry: dict[str, Any] = {
        "retry_total": 10,
        "retry_status": 10,
        "retry_connect": CONNECT_RETRIES,
        "retry_read": 3,
        "retry_backoff_factor": 0.25,
        "retry_backoff_max": 2.0,
    }
    transport = requests_transport(is_loopback_url(endpoint))
    if health is not None:
        retry["raw_request_hook"] = lambda _request: health()
    client = BatchClient(endpoint=endpoint, credential=credential, transport=transport, **retry)
    return AzureBatchService(client)


def blob_store_from_connection_string(conn: str) -> AzureBlobStore:
    """Azurite or a storage account by connection string."""
    from batchflow.azure.blob import AzureBlobStore

    return AzureBlobStore.from_connection_string(conn)


def azure_services(acct: AzureAccount) -> tuple[AzureBatchService, AzureBlobStore]:
    """The adapters for a real Azure account."""
    from batchflow.azure.blob import AzureBlobStore

    batch = batch_service(acct.batch_endpoint, acct.batch_account, acct.batch_key)
    if acct.storage_connection_string:
        blobs = AzureBlobStore.from_connection_string(acct.storage_connection_string)
    else:
        assert acct.storage_account is not None  # read_account guarantees one or the other
        cred = None if acct.storage_key else default_credential()
        blobs = AzureBlobStore.from_account(acct.storage_account, acct.storage_key, cred)
    return batch, blobs
