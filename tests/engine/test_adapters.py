"""The Azure adapters translate SDK failures once, into batchflow.errors, with the service's
code and request id and no secret: checked against the real emulator and real Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchflow.azure.batch import AzureBatchService
from batchflow.azure.blob import AzureBlobStore
from batchflow.azure.connect import batch_service
from batchflow.errors import BackendError, Conflict, NotFound, TransientError


@pytest.fixture()
def batch(emulator: Any) -> Iterator[AzureBatchService]:
    service = batch_service(emulator.url, emulator.account, emulator.key, fast=True)
    yield service
    service.close()


def test_missing_things_are_none_or_not_found(batch: AzureBatchService) -> None:
    assert batch.get_pool("nope") is None and batch.get_job("nope") is None
    assert batch.list_task_ids("nope") == set()
    with pytest.raises(NotFound) as err:
        batch.task_counts("nope")
    assert err.value.code == "JobNotFound" and err.value.request_id
    batch.delete_job("nope")  # absent: nothing to do
    batch.delete_pool("nope")


def test_duplicates_are_conflicts(batch: AzureBatchService) -> None:
    batch.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    with pytest.raises(Conflict) as err:
        batch.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    assert err.value.code == "JobExists"
    results = batch.add_tasks("j", [{"id": "t", "commandLine": "true"}] * 1)
    again = batch.add_tasks("j", [{"id": "t", "commandLine": "true"}])
    assert results[0].status == "success"
    assert (again[0].status, again[0].code) == ("clienterror", "TaskExists")


def test_wrong_key_is_a_backend_error_without_the_key(emulator: Any) -> None:
    wrong = "d3Jvbmcga2V5IGZvciB0ZXN0cw=="
    service = batch_service(emulator.url, emulator.account, wrong, fast=True)
    with pytest.raises(BackendError) as err:
        service.get_pool("p")
    assert err.value.code == "AuthenticationFailed"
    assert wrong not in str(err.value) and emulator.key not in str(err.value)


def test_unreachable_service_is_transient(tmp_path: Path) -> None:
    from tests.conftest import free_port

    service = batch_service(
        f"http://127.0.0.1:{free_port()}", "acct", "a2V5a2V5a2V5a2V5", fast=True
    )
    with pytest.raises(TransientError):
        service.get_job("j")


def test_blob_errors_are_translated(azurite: str, tmp_path: Path) -> None:
    store = AzureBlobStore.from_connection_string(azurite)
    with pytest.raises(BackendError) as err:
        store.ensure_container("Bad_Name")
    assert err.value.code == "InvalidResourceName"
    assert "AccountKey" not in str(err.value)
    with pytest.raises(NotFound):
        store.download("no-such-container", "x", tmp_path / "x")
    assert not list(tmp_path.iterdir())  # no partial file left behind
