"""The two small interfaces the engine acts through, and the plain data they return.

The engine never sees an SDK: ``batchflow.azure`` implements both Protocols over azure-batch
and azure-storage-blob (against Azure, or the local emulator and Azurite), ``batchflow.local``
implements ``BlobStore`` over a directory. Request bodies passed to ``BatchService`` are the
Batch REST JSON (camelCase, exactly as on the wire) so the adapter stays a thin pass-through;
what comes back is typed. Every method raises ``batchflow.errors.BackendError`` (or one of its
subclasses) for a service failure, never an SDK exception.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

Json = dict[str, Any]
Access = Literal["read", "list", "write"]


@dataclass(frozen=True)
class ResizeError:
    """Why the pool's last resize did not bring all its nodes (the service's ``resizeErrors``):
    ``code`` such as AccountCoreQuotaReached, ``values`` its name/value details."""

    code: str
    message: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PoolInfo:
    """What the engine checks about an existing pool."""

    id: str
    state: str  # active | deleting
    allocation_state: str  # steady | resizing | stopping
    vm_size: str
    image: tuple[str, str, str, str, str]  # publisher, offer, sku, version, nodeAgentSKUId
    slots_per_node: int
    target_dedicated: int
    target_spot: int
    # The start task as the pool has it (REST JSON), or None: compared with the spec's.
    start_task: Json | None = None
    current_dedicated: int = 0
    current_spot: int = 0
    resize_errors: tuple[ResizeError, ...] = ()


@dataclass(frozen=True)
class NodeInfo:
    """One compute node: ``state`` is the Batch node state (idle, running, starttaskfailed...)."""

    id: str
    state: str


@dataclass(frozen=True)
class SupportedImage:
    """One image the account's pools may use (``GET /supportedimages``): the Marketplace
    reference and the node agent SKU that goes with it."""

    publisher: str
    offer: str
    sku: str
    node_agent_sku: str
    os_type: str = "linux"  # linux | windows
    verified: bool = True
    end_of_life: str = ""  # batchSupportEndOfLife, "" when none is announced

    @property
    def name(self) -> str:
        return f"{self.publisher}/{self.offer}/{self.sku} ({self.node_agent_sku})"


@dataclass(frozen=True)
class JobInfo:
    """An existing job."""

    id: str
    state: str  # active | terminating | completed | deleting ...
    pool_id: str
    created: _dt.datetime | None


@dataclass(frozen=True)
class TaskCounts:
    """``GET /jobs/{id}/taskcounts``."""

    active: int
    running: int
    completed: int
    succeeded: int
    failed: int


@dataclass(frozen=True)
class TaskInfo:
    """A task as listed: its state and, once completed, how it ended."""

    id: str
    state: str
    node_id: str | None = None
    exit_code: int | None = None
    result: str | None = None  # success | failure
    failure_category: str = ""
    failure_code: str = ""
    failure_message: str = ""
    # executionInfo's times and attempts (None/0 when the service gives none yet).
    start_time: _dt.datetime | None = None
    end_time: _dt.datetime | None = None
    retry_count: int = 0
    requeue_count: int = 0
    # When the task entered its state, by the service's clock (None when not given).
    state_time: _dt.datetime | None = None


@dataclass(frozen=True)
class AddResult:
    """One task's outcome in an ``addtaskcollection`` call."""

    task_id: str
    status: str  # success | clienterror | servererror
    code: str = ""
    message: str = ""


class BatchService(Protocol):
    """The Batch operations the engine needs, one REST call each unless said otherwise."""

    def get_pool(self, pool_id: str) -> PoolInfo | None:
        """The pool, or None when it does not exist."""

    def create_pool(self, body: Json) -> None:
        """POST /pools with a REST PoolAddParameter body (``Conflict`` code PoolExists)."""

    def list_nodes(self, pool_id: str) -> list[NodeInfo]:
        """Every compute node of the pool (all pages)."""

    def list_supported_images(self) -> list[SupportedImage]:
        """Every image the account's pools may use, with its node agent SKU (all pages)."""

    def read_node_file(self, pool_id: str, node_id: str, path: str, tail: int = 0) -> bytes:
        """A file from a node, e.g. ``startup/stderr.txt`` (``NotFound`` if absent); with
        ``tail``, only its last ``tail`` bytes (its size, then one ranged read)."""

    def delete_pool(self, pool_id: str) -> None:
        """Start deleting the pool; returns without waiting (absent pool: no error)."""

    def resize_pool(self, pool_id: str, dedicated: int, spot: int) -> None:
        """Start resizing the pool to these targets; returns without waiting."""

    def get_job(self, job_id: str) -> JobInfo | None:
        """The job, or None when it does not exist."""

    def create_job(self, body: Json) -> None:
        """POST /jobs (``Conflict`` code JobExists)."""

    def delete_job(self, job_id: str) -> None:
        """Start deleting the job; returns without waiting (absent job: no error)."""

    def list_task_ids(self, job_id: str) -> set[str]:
        """The ids of every task already in the job: one paged listing with ``$select=id``."""

    def list_task_fingerprints(self, job_id: str) -> dict[str, str]:
        """Every task already in the job with its fingerprint, which batchflow keeps in the
        task's displayName ("" when it has none): one paged listing with
        ``$select=id,displayName`` (absent job: empty)."""

    def delete_task(self, job_id: str, task_id: str) -> None:
        """Delete the task, killing it if it runs (absent task: no error)."""

    def add_tasks(self, job_id: str, bodies: Sequence[Json]) -> list[AddResult]:
        """One ``addtaskcollection`` call (at most 100 tasks); per-task results in order.
        A body over the service's size limit raises ``BackendError`` code RequestBodyTooLarge."""

    def task_counts(self, job_id: str) -> TaskCounts:
        """The job's task counts in one call, whatever the number of tasks."""

    def list_tasks(self, job_id: str, filter: str | None = None) -> list[TaskInfo]:
        """Tasks of the job (all pages), optionally filtered by an OData ``$filter``."""

    def task_file_size(self, job_id: str, task_id: str, path: str) -> int:
        """The size in bytes of a file of the task's directory (``NotFound`` if absent)."""

    def read_task_file(
        self, job_id: str, task_id: str, path: str, start: int = 0, length: int | None = None
    ) -> bytes:
        """``length`` bytes (all, when None) from ``start`` of a file of the task's directory
        (``stdout.txt``, ``stderr.txt``, ``wd/...``): a ranged read (``ocp-range``), so a
        tail of a huge file costs what the tail weighs."""

    def close(self) -> None:
        """Release connections."""


class BlobStore(Protocol):
    """Containers of blobs: Azure Storage, Azurite, or a local directory."""

    def ensure_container(self, name: str) -> None:
        """Create the container unless it exists."""

    def list_md5(self, container: str) -> dict[str, bytes | None]:
        """Every blob name in the container with its Content-MD5 (None when the blob has
        none), from ONE listing; an absent container lists as empty."""

    def upload(self, container: str, blob: str, path: Path, md5: bytes) -> int:
        """Upload (overwrite) one file, recording ``md5`` as its Content-MD5; bytes sent."""

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        """Blob names in the container (absent container: empty)."""

    def download(self, container: str, blob: str, dest: Path) -> int:
        """Write the blob to ``dest`` (parents created); bytes written."""

    def container_url(self, container: str, access: Access, expiry: _dt.datetime) -> str:
        """A URL Batch nodes can use: ``read`` = read (one blob by its URL), ``list`` =
        read+list (a container's blobs by prefix), ``write`` = write+create (no read, no
        delete), valid until ``expiry`` (from a few minutes ago, for clock skew)."""

    def delete_container(self, name: str) -> None:
        """Delete the container and its blobs (absent: no error)."""

    def delete_blobs(self, container: str, prefix: str) -> int:
        """Delete every blob whose name starts with ``prefix`` (a non-empty one); how many
        (an absent container, or one already gone: no error)."""

    def delete_blob(self, container: str, blob: str) -> None:
        """Delete the blob named ``blob`` exactly (absent, or its container: no error)."""

    def describe(self) -> str:
        """Where the blobs live, for messages (never contains a secret)."""
