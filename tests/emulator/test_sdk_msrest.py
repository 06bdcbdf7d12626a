"""The REST surface through the msrest-era SDK (azure-batch 14.2, in its own virtualenv): what
its generation sends differently (empty lists of unsupported fields, nextLink used verbatim,
If-Match, 413 halving in ``add_collection``, file properties) is accepted as Azure does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_sdk14 import _sdk14_python  # the shared, cached 14.2 virtualenv

SCENARIO = r"""
import json, sys, time
import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials

url, account, key = sys.argv[1:4]
c = BatchServiceClient(SharedKeyCredentials(account, key), batch_url=url)
seen = {}

def code(fn):
    try:
        fn()
    except m.BatchErrorException as exc:
        return [exc.response.status_code, exc.error.code]
    return None

c.pool.add(m.PoolAddParameter(id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=1,
    virtual_machine_configuration=m.VirtualMachineConfiguration(
        image_reference=m.ImageReference(publisher="canonical", offer="x", sku="y"),
        node_agent_sku_id="batch.node.ubuntu 22.04")))
# update_properties always sends certificateReferences/applicationPackageReferences: [].
c.pool.update_properties("p", m.PoolUpdatePropertiesParameter(
    certificate_references=[], application_package_references=[],
    metadata=[m.MetadataItem(name="k", value="v")]))
seen["metadata"] = [(i.name, i.value) for i in c.pool.get("p").metadata]
# Fields of 2024-07-01 (resourceTags, targetNodeCommunicationMode, ...) are stored as sent.
legacy = m.PoolAddParameter(id="legacy", vm_size="standard_d2s_v3",
    virtual_machine_configuration=m.VirtualMachineConfiguration(
        image_reference=m.ImageReference(publisher="canonical", offer="x", sku="y"),
        node_agent_sku_id="batch.node.ubuntu 22.04"),
    target_node_communication_mode="simplified", resource_tags={"team": "a"},
    network_configuration=m.NetworkConfiguration(subnet_id="/subscriptions/s/x"),
    user_accounts=[m.UserAccount(name="u", password="not-a-real-one")])
c.pool.add(legacy)
got = c.pool.get("legacy")
seen["legacy"] = [got.target_node_communication_mode.value, got.resource_tags,
                  got.network_configuration.subnet_id, got.user_accounts[0].name]
c.job.add(m.JobAddParameter(id="j", pool_info=m.PoolInformation(pool_id="p")))
etag = c.job.get("j").e_tag
c.job.patch("j", m.JobPatchParameter(priority=5))
seen["stale_if_match"] = code(lambda: c.job.patch("j", m.JobPatchParameter(priority=6),
    job_patch_options=m.JobPatchOptions(if_match=etag)))
pad = "x" * 15000
tasks = [m.TaskAddParameter(id=f"b{i:03d}", command_line="/bin/sh -c 'printf 0123456789'",
         environment_settings=[m.EnvironmentSetting(name="PAD", value=pad)]) for i in range(250)]
c.task.add_collection("j", tasks, threads=4)
listed = list(c.task.list("j", task_list_options=m.TaskListOptions(max_results=60,
                                                                    select="id,state")))
seen["listed"] = len({t.id for t in listed})
deadline = time.monotonic() + 60
while c.task.get("j", "b007").state.value != "completed" and time.monotonic() < deadline:
    time.sleep(0.05)
resp = c.file.get_properties_from_task("j", "b007", "stdout.txt", raw=True)
seen["props"] = [resp.headers["Content-Length"], resp.headers["ocp-batch-file-isdirectory"]]
rng = m.FileGetFromTaskOptions(ocp_range="bytes=3-5")
seen["range"] = b"".join(c.file.get_from_task("j", "b007", "stdout.txt",
                                              file_get_from_task_options=rng)).decode()
c.job.terminate("j")
seen["job_state"] = c.job.get("j").state.value
seen["missing_task"] = code(lambda: c.task.get("j", "nope"))
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def sdk14_python() -> Path:
    return _sdk14_python()


def test_msrest_generation_against_the_rest_surface(
    sdk14_python: Path, emulator: Any, tmp_path: Path
) -> None:
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    proc = subprocess.run(
        [sdk14_python, script, emulator.url, emulator.account, emulator.key],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["metadata"] == [["k", "v"]]
    assert seen["legacy"] == ["simplified", {"team": "a"}, "/subscriptions/s/x", "u"]
    assert seen["stale_if_match"] == [412, "ConditionNotMet"]
    assert seen["listed"] == 250
    assert seen["props"] == [10, False]  # headers as msrest deserializes them
    assert seen["range"] == "345"
    assert seen["job_state"] in ("terminating", "completed")
    assert seen["missing_task"] == [404, "TaskNotFound"]
    assert emulator.control.counters()["Task_AddCollection"] > 3  # 413s were halved
