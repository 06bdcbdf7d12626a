"""Every field of the 2025-06-01 API through the real azure-batch 15.x SDK: what changes nothing
on one machine is stored and returned as sent, what a local process cannot honour is refused
with the service's error shape, and what it can (user identities, ``jobAction: disable``) runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models import CreateTasksError
from azure.core.exceptions import HttpResponseError

from tests.emulator.core_helpers import IMAGE, add, completed, make_job, make_pool, wait_for

USER = m.UserAccount(
    name="runner",
    password="not-a-real-password",
    elevation_level="admin",
    linux_user_configuration=m.LinuxUserConfiguration(uid=1234, gid=1234),
)


def _no_local_effect() -> dict[str, Any]:
    """BatchPoolCreateOptions fields that change nothing on one machine."""
    vm = m.VirtualMachineConfiguration(
        image_reference=IMAGE.image_reference,
        node_agent_sku_id=IMAGE.node_agent_sku_id,
        data_disks=[m.DataDisk(logical_unit_number=0, disk_size_gb=64, caching="readwrite")],
        extensions=[
            m.VMExtension(
                name="mon",
                publisher="Microsoft.Azure.Monitor",
                type="AzureMonitorLinuxAgent",
                type_handler_version="1.0",
                settings={"workspace": "w1"},
            )
        ],
        disk_encryption_configuration=m.DiskEncryptionConfiguration(targets=["osdisk"]),
        node_placement_configuration=m.BatchNodePlacementConfiguration(policy="zonal"),
        os_disk=m.BatchOsDisk(caching="readonly", disk_size_gb=100),
        security_profile=m.SecurityProfile(
            security_type="trustedLaunch",
            encryption_at_host=True,
            uefi_settings=m.BatchUefiSettings(secure_boot_enabled=True, vtpm_enabled=True),
        ),
    )
    return {
        "display_name": "every field",
        "virtual_machine_configuration": vm,
        "network_configuration": m.NetworkConfiguration(
            subnet_id="/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/"
            "virtualNetworks/v/subnets/default",
            public_ip_address_configuration=m.BatchPublicIpAddressConfiguration(
                ip_address_provisioning_type="nopublicipaddresses"
            ),
            enable_accelerated_networking=True,
        ),
        "mount_configuration": [
            m.MountConfiguration(
                nfs_mount_configuration=m.NfsMountConfiguration(
                    source="10.0.0.4:/share", relative_mount_path="nfs"
                )
            )
        ],
        "user_accounts": [USER],
        "metadata": [m.BatchMetadataItem(name="team", value="a")],
        "upgrade_policy": m.UpgradePolicy(mode="manual"),
        "task_scheduling_policy": m.BatchTaskSchedulingPolicy(node_fill_type="pack"),
        "enable_inter_node_communication": False,
    }


def test_a_pool_with_every_no_local_effect_field_round_trips(batch_client: BatchClient) -> None:
    options = m.BatchPoolCreateOptions(id="every", vm_size="standard_d2s_v3", **_no_local_effect())
    batch_client.create_pool(options)
    got = batch_client.get_pool("every").as_dict()
    sent = options.as_dict()
    for name, value in sent.items():
        assert got[name] == value, name
    listed = next(iter(batch_client.list_pools())).as_dict()
    assert listed["mountConfiguration"] == sent["mountConfiguration"]


def test_tasks_run_under_any_user_identity_as_the_current_user(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", user_accounts=[USER])
    make_job(batch_client, "j1", "p1")
    identities = {
        "named": m.UserIdentity(username="runner"),
        "admin": m.UserIdentity(
            auto_user=m.AutoUserSpecification(scope="pool", elevation_level="admin")
        ),
        "task": m.UserIdentity(
            auto_user=m.AutoUserSpecification(scope="task", elevation_level="nonadmin")
        ),
    }
    for task_id, identity in identities.items():
        add(batch_client, "j1", task_id, "/bin/true", user_identity=identity)
    for task_id, identity in identities.items():
        task = completed(batch_client, "j1", task_id)
        assert task.execution_info.exit_code == 0
        assert task.user_identity.as_dict() == identity.as_dict()


def _error(call: Any) -> tuple[str, dict[str, str]]:
    with pytest.raises(HttpResponseError) as info:
        call()
    error = info.value.model
    return str(error.code), {d.key: d.value for d in error.error_values or []}


def test_what_a_local_process_cannot_honour_is_refused_with_the_service_shape(
    batch_client: BatchClient,
) -> None:
    make_pool(batch_client, "p1", wait_idle=False)
    make_job(batch_client, "j1", "p1")
    container = m.BatchTaskContainerSettings(image_name="ubuntu:22.04")
    code, values = _error(
        lambda: add(batch_client, "j1", "c", "/bin/true", container_settings=container)
    )
    assert code == "InvalidPropertyValue"
    assert values["PropertyName"] == "containerSettings"
    assert "container runtime" in values["Reason"]
    in_collection = m.BatchTaskCreateOptions(
        id="c2", command_line="/bin/true", container_settings=container
    )
    with pytest.raises(CreateTasksError, match=r"c2.*InvalidPropertyValue"):
        batch_client.create_tasks("j1", [in_collection])
    mpi = m.MultiInstanceSettings(number_of_instances=2, coordination_command_line="/bin/true")
    code, values = _error(
        lambda: add(batch_client, "j1", "mpi", "/bin/true", multi_instance_settings=mpi)
    )
    assert (code, values["PropertyName"]) == ("InvalidPropertyValue", "multiInstanceSettings")
    one = m.MultiInstanceSettings(number_of_instances=1, coordination_command_line="/bin/true")
    add(batch_client, "j1", "single", "/bin/true", multi_instance_settings=one)
    vm = m.VirtualMachineConfiguration(
        image_reference=IMAGE.image_reference,
        node_agent_sku_id=IMAGE.node_agent_sku_id,
        container_configuration=m.BatchContainerConfiguration(type="dockerCompatible"),
    )
    docker = m.BatchPoolCreateOptions(
        id="docker", vm_size="standard_d2s_v3", virtual_machine_configuration=vm
    )
    code, values = _error(lambda: batch_client.create_pool(docker))
    assert values["PropertyName"] == "virtualMachineConfiguration.containerConfiguration"


def test_a_job_with_an_auto_pool_specification_is_accepted_and_returned(
    batch_client: BatchClient,
) -> None:
    spec = m.BatchAutoPoolSpecification(
        pool_lifetime_option="job",
        auto_pool_id_prefix="auto",
        pool=m.BatchPoolSpecification(
            vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE
        ),
    )
    batch_client.create_job(
        m.BatchJobCreateOptions(id="auto", pool_info=m.BatchPoolInfo(auto_pool_specification=spec))
    )
    got = batch_client.get_job("auto").pool_info.auto_pool_specification
    assert got.as_dict() == spec.as_dict()


def test_an_exit_condition_with_job_action_disable_disables_the_job(
    batch_client: BatchClient,
) -> None:
    make_pool(batch_client, "p1")
    make_job(batch_client, "j1", "p1", task_failure_mode="performexitoptionsjobaction")
    disable = m.ExitConditions(
        exit_codes=[m.ExitCodeMapping(code=3, exit_options=m.ExitOptions(job_action="disable"))]
    )
    add(batch_client, "j1", "t1", "/bin/sh -c 'exit 3'", exit_conditions=disable)
    assert completed(batch_client, "j1", "t1").execution_info.exit_code == 3
    wait_for("the job to be disabled", lambda: batch_client.get_job("j1").state == "disabled")
    add(batch_client, "j1", "t2", "/bin/true")
    with pytest.raises(AssertionError):
        completed(batch_client, "j1", "t2", timeout=1.5)  # a disabled job runs no new task


def test_expand_stats_gives_the_figures_the_emulator_knows(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "ok", "/bin/sh -c 'sleep 0.3'")
    add(batch_client, "j1", "bad", "/bin/false")
    completed(batch_client, "j1", "ok")
    completed(batch_client, "j1", "bad")
    task = batch_client.get_task("j1", "ok", expand=["stats"]).task_statistics
    assert 0.3 <= task.wall_clock_time.total_seconds() < 60
    (listed,) = [t for t in batch_client.list_tasks("j1", expand=["stats"]) if t.id == "ok"]
    assert listed.task_statistics.wall_clock_time == task.wall_clock_time
    job = batch_client.get_job("j1", expand=["stats"]).job_statistics
    assert (job.succeeded_tasks_count, job.failed_tasks_count, job.task_retries_count) == (1, 1, 0)
    assert job.wall_clock_time >= task.wall_clock_time
    assert (
        next(iter(batch_client.list_jobs(expand=["stats"]))).job_statistics.failed_tasks_count == 1
    )
    pool = batch_client.get_pool("p1", expand=["stats"]).pool_statistics
    assert pool.usage_statistics.dedicated_core_time.total_seconds() > 0  # 1 node of 2 cores, alive
    assert batch_client.get_task("j1", "ok").task_statistics is None  # only when asked


def test_a_job_network_configuration_is_stored_on_create_and_update(
    batch_client: BatchClient,
) -> None:
    make_pool(batch_client, "p1", wait_idle=False)
    first = m.BatchJobNetworkConfiguration(
        subnet_id="/subscriptions/s/a", skip_withdraw_from_vnet=True
    )
    make_job(batch_client, "j1", "p1", network_configuration=first)
    assert batch_client.get_job("j1").network_configuration.as_dict() == first.as_dict()
    second = m.BatchJobNetworkConfiguration(subnet_id="/subscriptions/s/b")
    batch_client.update_job("j1", m.BatchJobUpdateOptions(network_configuration=second))
    assert batch_client.get_job("j1").network_configuration.subnet_id == "/subscriptions/s/b"
