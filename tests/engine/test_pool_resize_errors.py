"""The pool stage against an emulator whose account has no core quota: the wait ends at once
with the service's reason, and a reused pool whose resize gave up asks again once the quota
is raised (Azure keeps a pool's resizeErrors until its next resize)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchflow.azure.batch import AzureBatchService
from batchflow.azure.connect import batch_service
from batchflow.emulator.server import EmulatorServer
from batchflow.emulator.state.quotas import account_quotas
from batchflow.engine.events import Event
from batchflow.engine.polling import LOCAL_POLL
from batchflow.engine.pool import ensure_pool, wait_for_nodes
from batchflow.engine.resize import PoolAllocationFailed
from tests.engine.planning import make_plan


@pytest.fixture()
def new_account(tmp_path: Path) -> Iterator[EmulatorServer]:
    server = EmulatorServer(
        data_dir=tmp_path / "emulator", nodes_max=2, quotas=account_quotas("new-account")
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def batch(new_account: EmulatorServer) -> Iterator[AzureBatchService]:
    service = batch_service(new_account.url, new_account.account, new_account.key, fast=True)
    yield service
    service.close()


def test_no_quota_ends_the_wait_at_once_then_a_raised_quota_is_asked_again(
    tmp_path: Path, new_account: EmulatorServer, batch: AzureBatchService
) -> None:
    plan = make_plan(tmp_path, nodes=2)
    events: list[Event] = []
    assert ensure_pool(plan, batch, "", events.append) is True
    t0 = time.monotonic()
    with pytest.raises(PoolAllocationFailed) as info:
        wait_for_nodes(plan, batch, events.append, LOCAL_POLL, timeout_s=1800)
    assert time.monotonic() - t0 < 10  # not the pool timeout
    assert info.value.code == "AccountVMSeriesCoreQuotaReached"
    assert info.value.exit_code == 3

    new_account.control.set_quotas(families={"standardAv2Family": 1}, dedicated=1)
    assert ensure_pool(plan, batch, "", events.append) is False
    assert any("asking again" in e.message for e in events)
    nodes = wait_for_nodes(plan, batch, events.append, LOCAL_POLL, timeout_s=60)
    assert len(nodes) == 1
    assert any("smaller than asked (1 of 2 nodes)" in e.message for e in events)
