"""``BlobStore`` over azure-storage-blob 12: Azure Storage or Azurite.

SAS for Batch nodes: read+list on the input container, write+create (no read, no delete) on
the output container, signed with the account key or, under Entra ID (azure-identity), with a
user delegation key.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobServiceClient,
    ContainerSasPermissions,
    ContentSettings,
    generate_container_sas,
)

from batchflow.azure.config import check_key
from batchflow.azure.errors import translated
from batchflow.azure.transport import requests_transport
from batchflow.engine.downloads import open_partial
from batchflow.engine.protocols import Access
from batchflow.errors import ConfigError
from batchflow.net import is_loopback_url

_CLOCK_SKEW = _dt.timedelta(minutes=5)
_MAX_DELEGATION = _dt.timedelta(days=7)
_BIG_FILE = 64 << 20  # above this, one file's blocks go up in parallel too
_BIG_FILE_THREADS = 4


# The SDK's own default waits 15 s, 18 s, 24 s between attempts: a storage endpoint that
# refuses connections took ~3 minutes to fail. Throttling still gets a few spaced retries
# (and the engine retries a transient failure once more); a dead endpoint fails in seconds.
# A read timeout is retried once: each retry costs the whole timeout again.
def _retry(loopback: bool) -> dict[str, Any]:
    return {
        "retry_total": 3,
        "retry_connect": 2,
        "retry_read": 1,
        "retry_status": 3,
        "initial_backoff": 0.2 if loopback else 1,
        "increment_base": 1 if loopback else 2,
        "random_jitter_range": 0.2 if loopback else 1,
    }


def _concurrency(size: int) -> int:
    """Threads for one upload: small files are parallel across files already."""
    return _BIG_FILE_THREADS if size > _BIG_FILE else 1


def _check_delegation_lifetime(start: _dt.datetime, expiry: _dt.datetime) -> None:
    """A user delegation key lives 7 days at most: a longer job needs an account key."""
    if expiry - start > _MAX_DELEGATION:
        raise ConfigError(
            "the job's timeout needs a storage SAS valid for more than 7 days, the limit of "
            "user-delegation SAS under Entra ID: set AZURE_STORAGE_KEY (or a connection "
            "string) or shorten job.timeout"
        )


class AzureBlobStore:
    """A ``BlobStore`` over one storage account."""

    def __init__(self, service: BlobServiceClient, account_key: str | None) -> None:
        self._service = service
        self._key = account_key

    @classmethod
    def from_connection_string(cls, conn: str) -> AzureBlobStore:
        """Azurite or a storage account, from an ``AZURE_STORAGE_CONNECTION_STRING``."""
        try:
            # Parsed once to learn the endpoint, which decides the transport's settings.
            endpoint = str(BlobServiceClient.from_connection_string(conn).url)
            loopback = is_loopback_url(endpoint)
            service = BlobServiceClient.from_connection_string(
                conn, transport=requests_transport(loopback), **_retry(loopback)
            )
        except (ValueError, TypeError, AttributeError, AzureError):
            # Never echo the string: it holds the account key.
            raise ConfigError(
                "AZURE_STORAGE_CONNECTION_STRING is malformed (expected "
                "AccountName=...;AccountKey=...;BlobEndpoint=... or DefaultEndpointsProtocol=...)"
            ) from None
        key = getattr(service.credential, "account_key", None)
        if key:
            check_key("the AccountKey of AZURE_STORAGE_CONNECTION_STRING", key)
        return cls(service, key)

    @classmethod
    def from_account(
        cls, account: str, key: str | None, credential: Any = None, endpoint: str | None = None
    ) -> AzureBlobStore:
        """A storage account by name, with its key or a token credential."""
        url = endpoint or f"https://{account}.blob.core.windows.net"
        cred: Any = {"account_name": account, "account_key": key} if key else credential
        loopback = is_loopback_url(url)
        transport = requests_transport(loopback)
        return cls(
            BlobServiceClient(url, credential=cred, transport=transport, **_retry(loopback)), key
        )

    def _translated(self, what: str) -> contextlib.AbstractContextManager[None]:
        """``translated``, naming this account's endpoint when it cannot be reached."""
        return translated(what, where=self.describe())

    def ensure_container(self, name: str) -> None:
        """Create the container unless it exists."""
        with (
            self._translated(f"creating container {name}"),
            contextlib.suppress(ResourceExistsError),
        ):
            self._service.create_container(name)

    def list_md5(self, container: str) -> dict[str, bytes | None]:
        """One listing: blob names and their Content-MD5."""
        result: dict[str, bytes | None] = {}
        with self._translated(f"listing container {container}"):
            try:
                for props in self._service.get_container_client(container).list_blobs():
                    md5 = props.content_settings.content_md5
                    result[props.name] = bytes(md5) if md5 else None
            except ResourceNotFoundError:
                return {}
        return result

    def upload(self, container: str, blob: str, path: Path, md5: bytes) -> int:
        """Upload one file, overwriting, with its Content-MD5 recorded."""
        client = self._service.get_blob_client(container, blob)
        size = path.stat().st_size
        with self._translated(f"uploading {blob}"), path.open("rb") as fh:
            client.upload_blob(
                fh,
                length=size,
                overwrite=True,
                max_concurrency=_concurrency(size),
                content_settings=ContentSettings(content_md5=bytearray(md5)),
            )
        return size

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        """Blob names under ``prefix``."""
        with self._translated(f"listing container {container}"):
            try:
                client = self._service.get_container_client(container)
                return [b.name for b in client.list_blobs(name_starts_with=prefix or None)]
            except ResourceNotFoundError:
                return []

    def delete_blobs(self, container: str, prefix: str) -> int:
        """One listing under ``prefix``, then one delete per blob (one gone since: fine)."""
        assert prefix
        names = self.list_blobs(container, prefix)
        with self._translated(f"deleting blobs under {prefix} in {container}"):
            client = self._service.get_container_client(container)
            for name in names:
                with contextlib.suppress(ResourceNotFoundError):
                    client.delete_blob(name)
        return len(names)

    def delete_blob(self, container: str, blob: str) -> None:
        """One delete; a blob (or container) already gone is no error."""
        with self._translated(f"deleting blob {blob} in {container}"):
            client = self._service.get_container_client(container)
            with contextlib.suppress(ResourceNotFoundError):
                client.delete_blob(blob)

    def download(self, container: str, blob: str, dest: Path) -> int:
        """Download to a temporary file beside ``dest``, then rename (no torn files)."""
        fd, tmp = open_partial(dest.parent)  # mode 0666 less the umask: a user's file
        try:
            with self._translated(f"downloading {blob}"), os.fdopen(fd, "wb") as fh:
                client = self._service.get_blob_client(container, blob)
                stream = client.download_blob(max_concurrency=_BIG_FILE_THREADS)
                size = stream.readinto(fh)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return int(size)

    def container_url(self, container: str, access: Access, expiry: _dt.datetime) -> str:
        """A container SAS URL with least privilege for ``access``."""
        start = _dt.datetime.now(_dt.timezone.utc) - _CLOCK_SKEW
        perms = {
            "read": ContainerSasPermissions(read=True),
            "list": ContainerSasPermissions(read=True, list=True),
            "write": ContainerSasPermissions(write=True, create=True),
        }[access]
        account = str(self._service.account_name)
        with self._translated(f"signing access to container {container}"):
            if self._key:
                sas = generate_container_sas(
                    account,
                    container,
                    account_key=self._key,
                    permission=perms,
                    expiry=expiry,
                    start=start,
                )
            else:
                _check_delegation_lifetime(start, expiry)
                udk = self._service.get_user_delegation_key(start, expiry)
                sas = generate_container_sas(
                    account,
                    container,
                    user_delegation_key=udk,
                    permission=perms,
                    expiry=expiry,
                    start=start,
                )
        url = self._service.get_container_client(container).url
        return f"{url}?{sas}"

    def delete_container(self, name: str) -> None:
        """Delete the container (absent: nothing to do)."""
        with (
            self._translated(f"deleting container {name}"),
            contextlib.suppress(ResourceNotFoundError),
        ):
            self._service.delete_container(name)

    def describe(self) -> str:
        """The account's blob endpoint."""
        return str(self._service.url).split("?")[0]
