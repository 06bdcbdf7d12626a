"""A VM extension's ``protectedSettings`` are a secret the service takes and never gives back
(its pool GET shows the extension without them: the Batch pool example pair of
azure-rest-api-specs, PoolCreate/PoolGet_VirtualMachineConfiguration_Extensions). Through the
real azure-batch 15.x SDK: not on a pool, a job's or a schedule's auto pool specification, a
node's extensions, nor anywhere in the emulator's files."""

from __future__ import annotations

import datetime as dt
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m

from tests.emulator.core_helpers import IMAGE, wait_for

SECRET = "pr0tected-S3ttings-value"  # a test value, looked for in every file below


def _vm_config() -> m.VirtualMachineConfiguration:
    extension = m.VMExtension(
        name="kv",
        publisher="Microsoft.Azure.KeyVault",
        type="KeyVaultForLinux",
        type_handler_version="2.0",
        settings={"public": "shown"},
        protected_settings={"clientSecret": SECRET},
    )
    return m.VirtualMachineConfiguration(
        image_reference=IMAGE.image_reference,
        node_agent_sku_id=IMAGE.node_agent_sku_id,
        extensions=[extension],
    )


def _auto_pool() -> m.BatchPoolInfo:
    return m.BatchPoolInfo(
        auto_pool_specification=m.BatchAutoPoolSpecification(
            pool_lifetime_option="job",
            keep_alive=False,
            pool=m.BatchPoolSpecification(
                vm_size="standard_d2s_v3",
                virtual_machine_configuration=_vm_config(),
                target_dedicated_nodes=0,
            ),
        )
    )


def _extension_of(config: m.VirtualMachineConfiguration | None) -> m.VMExtension:
    assert config is not None and config.extensions
    return config.extensions[0]


def _hidden(extension: m.VMExtension) -> None:
    assert extension.settings == {"public": "shown"}
    assert extension.protected_settings is None


def test_protected_settings_are_never_given_back(batch_client: BatchClient, emulator: Any) -> None:
    batch_client.create_pool(
        m.BatchPoolCreateOptions(
            id="p1",
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=_vm_config(),
            target_dedicated_nodes=1,
        )
    )
    _hidden(_extension_of(batch_client.get_pool("p1").virtual_machine_configuration))
    listed = next(p for p in batch_client.list_pools() if p.id == "p1")
    _hidden(_extension_of(listed.virtual_machine_configuration))
    node = str(wait_for("a node", lambda: list(batch_client.list_nodes("p1")))[0].id)
    vm_extension = batch_client.get_node_extension("p1", node, "kv").vm_extension
    assert vm_extension is not None
    _hidden(vm_extension)

    batch_client.create_job(m.BatchJobCreateOptions(id="j1", pool_info=_auto_pool()))
    spec = batch_client.get_job("j1").pool_info.auto_pool_specification  # type: ignore[union-attr]
    assert spec is not None and spec.pool is not None
    _hidden(_extension_of(spec.pool.virtual_machine_configuration))

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
    batch_client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id="s1",
            schedule=m.BatchJobScheduleConfiguration(do_not_run_until=later),
            job_specification=m.BatchJobSpecification(pool_info=_auto_pool()),
        )
    )
    batch_client.update_job_schedule(
        "s1",
        m.BatchJobScheduleUpdateOptions(
            job_specification=m.BatchJobSpecification(pool_info=_auto_pool())
        ),
    )
    job_spec = batch_client.get_job_schedule("s1").job_specification
    assert job_spec is not None and job_spec.pool_info.auto_pool_specification is not None
    pool_spec = job_spec.pool_info.auto_pool_specification.pool
    assert pool_spec is not None
    _hidden(_extension_of(pool_spec.virtual_machine_configuration))

    # Not kept either: nothing the emulator writes holds the secret.
    for path in emulator.data_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
