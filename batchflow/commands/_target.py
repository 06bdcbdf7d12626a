"""Pick and open the target a command runs against: local (emulator) or Azure.

``--target local`` is the default when no AZURE_BATCH_* account is configured; its storage is
the directory store beside the spec, or Azurite with ``--storage azurite`` (or when
AZURE_STORAGE_CONNECTION_STRING points at 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchflow.engine.polling import AZURE_POLL, LOCAL_POLL, Pause, PollPolicy, pause
from batchflow.engine.protocols import BatchService, BlobStore
from batchflow.errors import ConfigError, UsageError
from batchflow.net import is_loopback_url
from batchflow.redact import remember_secret


@dataclass
class Target:
    """An open target: the two services, how to poll, what to tell the user first."""

    kind: str  # local | azure
    batch: BatchService
    blobs: BlobStore
    poll: PollPolicy
    banner: str
    state_dir: Path | None = None
    emulator: Any = None  # the in-process EmulatorServer on the local target
    # How the watch loop pauses between polls (the local target: until a task completes).
    wait: Pause = pause


def _remember_connection_string(conn: str | None) -> None:
    """The connection string and the account key or SAS inside it are secrets batchflow holds."""
    if conn:
        parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
        remember_secret(conn, parts.get("AccountKey"), parts.get("SharedAccessSignature"))


def _azurite_conn(env: Mapping[str, str]) -> str | None:
    """The connection string, if its blob endpoint is on this machine (Azurite)."""
    conn = env.get("AZURE_STORAGE_CONNECTION_STRING", "")
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    return conn if is_loopback_url(parts.get("BlobEndpoint", "")) else None


def choose(target: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """(target, why) from the flag and the environment."""
    from batchflow.azure.config import batch_configured

    if target:
        return target, f"--target {target}"
    if batch_configured(env):
        return "azure", "AZURE_BATCH_ENDPOINT is set"
    return "local", "no AZURE_BATCH_* account is configured"


def _local_blobs(spec_path: Path, storage: str | None, env: Mapping[str, str]) -> BlobStore:
    from batchflow.local.target import blobs_dir

    conn = _azurite_conn(env)
    if storage == "azurite" or (storage is None and conn):
        if not conn:
            raise ConfigError(
                "--storage azurite needs AZURE_STORAGE_CONNECTION_STRING set to "
                "Azurite's connection string (BlobEndpoint=http://127.0.0.1:...)"
            )
        from batchflow.azure.connect import blob_store_from_connection_string

        _remember_connection_string(conn)
        return blob_store_from_connection_string(conn)
    from batchflow.local.blobs import LocalBlobStore

    return LocalBlobStore(blobs_dir(spec_path))


@contextlib.contextmanager
def _local(
    spec_path: Path,
    storage: str | None,
    why: str,
    env: Mapping[str, str],
    read_only: bool,
    attach: bool = False,
) -> Iterator[Target]:
    from batchflow.azure.connect import batch_service
    from batchflow.local.target import StateBusy, completion_wait, local_emulator, state_dir

    blobs = _local_blobs(spec_path, storage, env)
    state = state_dir(spec_path)
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(local_emulator(spec_path, scheduling=not read_only))
        except StateBusy as busy:
            if not attach:
                raise
            stack.close()
            with _attached(busy, blobs, why) as tgt:
                yield tgt
            return
        remember_secret(server.key)
        batch = batch_service(
            server.url, server.account, server.key, fast=True, health=server.check
        )
        banner = (
            f"Running on the local target ({why}): Batch emulator on {server.url}, "
            f"state in {state}, blobs in {blobs.describe()}."
        )
        try:
            wait = completion_wait(server, LOCAL_POLL.initial, LOCAL_POLL.maximum)
            yield Target("local", batch, blobs, LOCAL_POLL, banner, state, server, wait)
        finally:
            batch.close()


ATTACH_WAIT_S = 5.0  # a run that just took the lock publishes its endpoint within this


@contextlib.contextmanager
def _attached(busy: Any, blobs: BlobStore, why: str) -> Iterator[Target]:
    """The emulator of the run in progress, over loopback with the key it published: its
    REST API answers reads while it schedules, so looking never competes with running (a
    second emulator on the same state would run the same tasks twice)."""
    import time

    from batchflow.azure.connect import batch_service
    from batchflow.local.target import running_endpoint

    deadline = time.monotonic() + ATTACH_WAIT_S
    while (found := running_endpoint(busy.state)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if found is None:
        raise busy
    remember_secret(found.key)
    batch = batch_service(found.url, found.account, found.key, fast=True)
    banner = (
        f"Looking at the run in progress (process {found.pid}, local target: {why}): "
        f"Batch emulator on {found.url}."
    )
    try:
        yield Target("local", batch, blobs, LOCAL_POLL, banner, busy.state)
    finally:
        batch.close()


@contextlib.contextmanager
def _azure(storage: str | None, why: str, env: Mapping[str, str]) -> Iterator[Target]:
    from batchflow.azure.config import read_account
    from batchflow.azure.connect import azure_services

    if storage is not None:
        raise UsageError(
            f"--storage {storage} works with --target local only: Azure Batch nodes read "
            "and write Azure Storage (AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT)"
        )
    acct = read_account(env)
    remember_secret(acct.batch_key, acct.storage_key)
    _remember_connection_string(acct.storage_connection_string)
    batch, blobs = azure_services(acct)
    banner = f"Running on Azure Batch {acct.batch_endpoint} ({why}), storage {blobs.describe()}."
    try:
        yield Target("azure", batch, blobs, AZURE_POLL, banner)
    finally:
        batch.close()


def nothing_local(
    spec_path: Path, target: str | None, env: Mapping[str, str] | None = None
) -> bool:
    """True when the spec would run locally and has never run: no state to look at (and
    looking must not start an emulator, which would create that state)."""
    from batchflow.local.target import state_dir

    kind, _ = choose(target, os.environ if env is None else env)
    return kind == "local" and not (state_dir(spec_path) / "emulator").is_dir()


def open_target(
    spec_path: Path,
    target: str | None,
    storage: str | None,
    env: Mapping[str, str] | None = None,
    *,
    read_only: bool = False,
    attach: bool = False,
) -> contextlib.AbstractContextManager[Target]:
    """The target for ``spec_path`` (a context manager: the local emulator stops on exit).
    ``read_only`` (status, logs, down): the local emulator serves its state but runs no
    task, so looking never restarts a task an interrupted run left behind. ``attach``
    (status, logs): while another process runs the spec locally, talk to its emulator."""
    env = os.environ if env is None else env
    kind, why = choose(target, env)
    if kind == "local":
        return _local(spec_path, storage, why, env, read_only, attach)
    return _azure(storage, why, env)
