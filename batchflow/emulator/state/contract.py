"""The contract between the emulator's HTTP layer (``app``) and its service core (``service``).

The HTTP layer authenticates, parses, validates request bodies (unknown or unsupported fields
are refused there), then calls a ``BatchState``. The state speaks REST-shaped dicts (camelCase
keys exactly as on the wire) in and out, and raises ``errors.BatchServiceError`` for every
service error. It never sees HTTP; the HTTP layer never touches SQLite or processes.

Resource dicts returned carry ``eTag`` (quoted-free, e.g. ``0x8DC...``), ``lastModified``,
``creationTime`` and state fields; the HTTP layer adds ``url`` and ``odata.metadata`` and copies
eTag/lastModified into headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from batchflow.emulator.kinds import Json


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_token`` is opaque, None on the last page."""

    items: list[Json]
    next_token: str | None


class BatchState(Protocol):
    """Pools, nodes, jobs and tasks of one emulated Batch account, with their semantics."""

    account_name: str
    account_url: str  # set by the server once bound; seen by tasks as AZ_BATCH_ACCOUNT_URL

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Open the store, requeue tasks that were running at the last stop, start scheduling."""

    def close(self) -> None:
        """Stop scheduling, kill running task process groups, close the store."""

    # -- pools ------------------------------------------------------------------------------
    def create_pool(self, body: Json) -> Json:
        """Create a pool (PoolExists 409); nodes allocate asynchronously. Returns the pool."""

    def get_pool(self, pool_id: str) -> Json:
        """The pool (PoolNotFound 404)."""

    def list_pools(self, filter: str | None, token: str | None, limit: int) -> Page:
        """Pools, ``limit`` at most per page."""

    def delete_pool(self, pool_id: str) -> None:
        """Mark for deletion (state 'deleting'), stop its nodes' tasks (requeued), then remove."""

    def resize_pool(self, pool_id: str, body: Json) -> None:
        """Change target node counts; allocationState resizing -> steady."""

    def update_pool(self, pool_id: str, body: Json, replace: bool) -> Json:
        """PATCH (merge, ``replace=False``) or updateproperties (``replace=True``)."""

    def list_nodes(self, pool_id: str, filter: str | None, token: str | None, limit: int) -> Page:
        """Compute nodes of a pool."""

    def get_node(self, pool_id: str, node_id: str) -> Json:
        """One node (NodeNotFound 404)."""

    def node_root(self, pool_id: str, node_id: str) -> Path:
        """The node's root directory (startup/, shared/, workitems/ beneath it)."""

    # -- jobs -------------------------------------------------------------------------------
    def create_job(self, body: Json) -> Json:
        """Create a job (JobExists 409, PoolNotFound is not checked by Batch at create)."""

    def get_job(self, job_id: str) -> Json:
        """The job (JobNotFound 404)."""

    def list_jobs(self, filter: str | None, token: str | None, limit: int) -> Page:
        """Jobs."""

    def update_job(self, job_id: str, body: Json, replace: bool) -> Json:
        """PATCH (merge) or PUT (replace) of the job's updatable properties."""

    def terminate_job(self, job_id: str, reason: str | None, force: bool) -> None:
        """terminating -> completed; running tasks are killed and completed."""

    def delete_job(self, job_id: str, force: bool) -> None:
        """deleting -> gone; running tasks are killed first."""

    def task_counts(self, job_id: str) -> Json:
        """``{"taskCounts": {...}, "taskSlotCounts": {...}}`` in one cheap query."""

    # -- tasks ------------------------------------------------------------------------------
    def create_task(self, job_id: str, body: Json) -> Json:
        """Add one task (TaskExists 409, JobCompleted 409...). Returns the task."""

    def create_tasks(self, job_id: str, bodies: list[Json]) -> list[Json]:
        """addtaskcollection: one result per task, in order:
        ``{"status": "success"|"clienterror"|"servererror", "taskId", "eTag", "lastModified",
        "error": BatchError body}``. The 100-task / size limit is checked by the HTTP layer."""

    def get_task(self, job_id: str, task_id: str) -> Json:
        """The task (TaskNotFound 404)."""

    def list_tasks(self, job_id: str, filter: str | None, token: str | None, limit: int) -> Page:
        """Tasks in creation order. ``filter`` is the raw OData ``$filter`` (at least
        ``state eq 'x'``, ``executionInfo/result eq 'failure'``, joined by and/or);
        an unsupported filter raises InvalidQueryParameterValue naming it."""

    def update_task(self, job_id: str, task_id: str, body: Json) -> None:
        """PUT: update the task's constraints."""

    def terminate_task(self, job_id: str, task_id: str) -> None:
        """Kill if running; the task completes (exit code, failureInfo as Batch reports)."""

    def delete_task(self, job_id: str, task_id: str) -> None:
        """Kill if running, then remove the task and its directory."""

    def reactivate_task(self, job_id: str, task_id: str) -> None:
        """A failed completed task goes back to active, retry count reset."""

    def task_dir(self, job_id: str, task_id: str) -> Path | None:
        """The task's directory on its node (stdout.txt, stderr.txt, wd/), or None if it
        never ran (the HTTP layer then answers the file API with 404 FileNotFound)."""

    # -- control surface (tests) ------------------------------------------------------------
    def lose_node(self, pool_id: str, node_id: str | None) -> str:
        """Simulate losing a node (its running tasks are requeued, requeueCount + 1) and
        replace it; returns the lost node's id. ``None`` = a node that is running a task."""

    def reset(self) -> None:
        """Kill everything and forget every pool, job and task."""
