"""The account's supported images and node counts through the real azure-batch 15.x SDK, and a
pool whose image and node agent SKU do not go together refused as the service refuses it."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from tests.emulator.core_helpers import make_pool, wait_for


def test_supported_images_lists_agents_and_filters(batch_client: BatchClient) -> None:
    images = list(batch_client.list_supported_images())
    pairs = {
        (i.image_reference.publisher, i.image_reference.offer, i.image_reference.sku): i
        for i in images
    }
    jammy = pairs[("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts")]
    assert jammy.node_agent_sku_id == "batch.node.ubuntu 22.04"
    assert jammy.os_type == "linux" and jammy.verification_type == "verified"
    assert jammy.batch_support_end_of_life is not None
    windows = pairs[("microsoftwindowsserver", "windowsserver", "2022-datacenter")]
    assert windows.node_agent_sku_id == "batch.node.windows amd64" and windows.os_type == "windows"
    assert ("canonical", "ubuntu-24_04-lts", "server") in pairs
    assert any(i.capabilities for i in images)

    verified = list(batch_client.list_supported_images(filter="verificationType eq 'verified'"))
    assert verified and all(i.verification_type == "verified" for i in verified)
    assert len(verified) < len(images)
    on_windows = list(batch_client.list_supported_images(filter="osType eq 'windows'"))
    assert on_windows and {i.os_type for i in on_windows} == {"windows"}
    paged = list(batch_client.list_supported_images(max_results=5))
    assert len(paged) == len(images)  # the SDK follows odata.nextLink
    with pytest.raises(HttpResponseError) as info:
        list(batch_client.list_supported_images(filter="vmSize eq 'x'"))
    assert info.value.status_code == 400


def _pool(image: m.BatchVmImageReference, agent: str) -> m.BatchPoolCreateOptions:
    return m.BatchPoolCreateOptions(
        id="p",
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=m.VirtualMachineConfiguration(
            image_reference=image, node_agent_sku_id=agent
        ),
        target_dedicated_nodes=1,
    )


def test_an_image_with_another_agent_is_refused(batch_client: BatchClient) -> None:
    jammy = m.BatchVmImageReference(
        publisher="Canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
    )
    for agent in ("batch.node.ubuntu 24.04", "batch.node.nonesuch 1"):
        with pytest.raises(HttpResponseError) as info:
            batch_client.create_pool(_pool(jammy, agent))
        assert info.value.status_code == 400
        assert info.value.error.code == "InvalidPropertyValue"
        detail = {d.code: d.message for d in info.value.error.details}
        assert detail["PropertyName"] == "nodeAgentSKUId" and detail["PropertyValue"] == agent
    with pytest.raises(HttpResponseError):
        batch_client.get_pool("p")
    batch_client.create_pool(_pool(jammy, "batch.node.ubuntu 22.04"))  # the right pair


def test_node_counts_per_pool_and_kind(batch_client: BatchClient) -> None:
    make_pool(batch_client, "two", 2)
    make_pool(batch_client, "spot", 0, wait_idle=False, target_low_priority_nodes=1)
    wait_for(
        "the spot node idle",
        lambda: [n.state for n in batch_client.list_nodes("spot")] == ["idle"],
    )
    counts = {c.pool_id: c for c in batch_client.list_pool_node_counts()}
    assert counts["two"].dedicated.idle == 2 and counts["two"].dedicated.total == 2
    assert counts["two"].low_priority.total == 0
    assert counts["spot"].low_priority.idle == 1 and counts["spot"].dedicated.total == 0
    only = list(batch_client.list_pool_node_counts(filter="poolId eq 'spot'"))
    assert [c.pool_id for c in only] == ["spot"]
