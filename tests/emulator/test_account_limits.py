"""The account's limits through the real azure-batch 15.x SDK: the VM size catalog, core
quotas per VM family and for spot, and injected allocation failures, reported in the pool's
``resizeErrors`` with the service's codes while its allocation ends steady."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from batchflow.emulator.server import EmulatorServer
from batchflow.emulator.state.quotas import account_quotas, catalog
from tests.emulator.core_helpers import IMAGE, wait_for


def _create(
    client: BatchClient, pool_id: str, size: str, dedicated: int = 0, spot: int = 0
) -> None:
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size=size,
            virtual_machine_configuration=IMAGE,
            target_dedicated_nodes=dedicated,
            target_low_priority_nodes=spot,
        )
    )


def _steady(client: BatchClient, pool_id: str) -> m.BatchPool:
    return wait_for(
        f"pool {pool_id} steady",
        lambda: (lambda p: p if p.allocation_state == "steady" else None)(client.get_pool(pool_id)),
    )


def _codes(pool: m.BatchPool) -> list[str]:
    return [e.code for e in pool.resize_errors or []]


@pytest.fixture()
def new_account(tmp_path: Path) -> Iterator[EmulatorServer]:
    """An emulator started as a new account: no core quota except 4 DSv3 cores."""
    quotas = account_quotas("new-account", ["standardDSv3Family=4"], low_priority=2)
    server = EmulatorServer(data_dir=tmp_path / "emulator", nodes_max=4, quotas=quotas)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: EmulatorServer) -> BatchClient:
    return BatchClient(
        endpoint=server.url, credential=AzureNamedKeyCredential(server.account, server.key)
    )


def test_the_catalog_ships_common_sizes_with_their_family() -> None:
    sizes = catalog()
    assert sizes["standard_d2s_v3"].cores == 2
    assert sizes["standard_d2s_v3"].family == "standardDSv3Family"
    assert sizes["standard_f8s_v2"].cores == 8
    assert sizes["standard_nc6s_v3"].family == "standardNCSv3Family"


def test_an_unknown_vm_size_is_refused_as_the_service_refuses_it(
    batch_client: BatchClient,
) -> None:
    with pytest.raises(HttpResponseError) as info:
        _create(batch_client, "p1", "standard_d3s_v9", dedicated=1)
    error = info.value.error
    assert error.code == "InvalidPropertyValue"
    values = {v["key"]: v["value"] for v in info.value.response.json()["values"]}
    assert values["PropertyName"] == "vmSize" and values["PropertyValue"] == "standard_d3s_v9"
    _create(batch_client, "p1", "STANDARD_D2S_V3")  # case-insensitive, as the service


def test_a_pool_over_the_family_quota_gets_what_fits(new_account: EmulatorServer) -> None:
    client = _client(new_account)
    _create(client, "p1", "standard_d2s_v3", dedicated=3)  # 6 cores asked, 4 allowed
    pool = _steady(client, "p1")
    assert pool.current_dedicated_nodes == 2
    assert _codes(pool) == ["AccountVMSeriesCoreQuotaReached"]
    assert "standardDSv3Family" in (pool.resize_errors or [])[0].message
    # Another family has no quota at all on a new account: nothing comes.
    _create(client, "p2", "standard_f2s_v2", dedicated=1)
    pool = _steady(client, "p2")
    assert pool.current_dedicated_nodes == 0
    assert _codes(pool) == ["AccountVMSeriesCoreQuotaReached"]


def test_the_quota_counts_the_other_pools_cores(new_account: EmulatorServer) -> None:
    client = _client(new_account)
    _create(client, "p1", "standard_d2s_v3", dedicated=1)
    assert _steady(client, "p1").resize_errors is None
    _create(client, "p2", "standard_d4s_v3", dedicated=1)  # 2 + 4 > 4
    pool = _steady(client, "p2")
    assert pool.current_dedicated_nodes == 0 and _codes(pool)


def test_spot_nodes_count_against_the_low_priority_quota(new_account: EmulatorServer) -> None:
    client = _client(new_account)
    _create(client, "p1", "standard_d2s_v3", spot=2)
    pool = _steady(client, "p1")
    assert pool.current_low_priority_nodes == 1
    assert _codes(pool) == ["AccountLowPriorityCoreQuotaReached"]


def test_quotas_raised_through_the_control_surface_apply_to_the_next_resize(
    new_account: EmulatorServer,
) -> None:
    client = _client(new_account)
    _create(client, "p1", "standard_f2s_v2", dedicated=1)
    assert _steady(client, "p1").current_dedicated_nodes == 0
    seen = new_account.control.set_quotas(families={"standardFSv2Family": 4}, dedicated=8)
    assert seen["dedicatedCoresPerFamily"]["standardfsv2family"] == 4
    client.begin_resize_pool(
        "p1", m.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=0.05
    ).result()
    pool = _steady(client, "p1")
    assert pool.current_dedicated_nodes == 2 and pool.resize_errors is None


@pytest.mark.parametrize("failure", ["AllocationFailed", "AllocationTimedout"])
def test_injected_allocation_failures_stop_growth(
    emulator: EmulatorServer, batch_client: BatchClient, failure: str
) -> None:
    _create(batch_client, "p1", "standard_d2s_v3", dedicated=1)
    assert _steady(batch_client, "p1").current_dedicated_nodes == 1
    emulator.control.fail_allocations(failure)
    batch_client.begin_resize_pool(
        "p1", m.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=0.05
    ).result()
    pool = _steady(batch_client, "p1")
    assert pool.current_dedicated_nodes == 1 and _codes(pool) == [failure]
    emulator.control.fail_allocations(None)
    batch_client.begin_resize_pool(
        "p1", m.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=0.05
    ).result()
    pool = _steady(batch_client, "p1")
    assert pool.current_dedicated_nodes == 2 and pool.resize_errors is None


def test_a_lowered_quota_stops_growth_but_keeps_the_nodes_a_pool_has(
    emulator: EmulatorServer, batch_client: BatchClient
) -> None:
    _create(batch_client, "p1", "standard_d2s_v3", dedicated=2)
    assert _steady(batch_client, "p1").current_dedicated_nodes == 2
    emulator.control.set_quotas(families={"standardDSv3Family": 0})
    batch_client.begin_resize_pool(
        "p1", m.BatchPoolResizeOptions(target_dedicated_nodes=3), polling_interval=0.05
    ).result()
    pool = _steady(batch_client, "p1")
    assert pool.current_dedicated_nodes == 2
    assert _codes(pool) == ["AccountVMSeriesCoreQuotaReached"]
