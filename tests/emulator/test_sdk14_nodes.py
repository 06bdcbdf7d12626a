"""The node operations through the msrest-era SDK (azure-batch 14.2, in its own virtualenv):
removenodes, stopresize, reboot, reimage, scheduling, node users, remote login, extensions,
file deletion, subtasks, applications and usage metrics, as that generation sends them."""

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

def until(what, probe, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")

c.pool.add(m.PoolAddParameter(id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=2,
    virtual_machine_configuration=m.VirtualMachineConfiguration(
        image_reference=m.ImageReference(publisher="canonical", offer="x", sku="y"),
        node_agent_sku_id="batch.node.ubuntu 22.04")))
nodes = until("two idle nodes", lambda: (lambda ns: ns if len(ns) == 2 and all(
    n.state.value == "idle" for n in ns) else None)(list(c.compute_node.list("p"))))
n0, n1 = sorted(n.id for n in nodes)
c.job.add(m.JobAddParameter(id="j", pool_info=m.PoolInformation(pool_id="p")))
c.task.add("j", m.TaskAddParameter(id="t", command_line="/bin/sh -c 'mkdir d; echo x > d/f'"))
until("t done", lambda: c.task.get("j", "t").state.value == "completed")
seen["subtasks"] = list(c.task.list_subtasks("j", "t").value or [])
c.file.delete_from_task("j", "t", "wd/d", recursive=True)
seen["deleted"] = code(lambda: c.file.delete_from_task("j", "t", "wd/d"))
c.file.delete_from_compute_node("p", n0, "startup/wd", recursive=True)

c.compute_node.disable_scheduling("p", n0, node_disable_scheduling_option="taskcompletion")
seen["scheduling"] = c.compute_node.get("p", n0).scheduling_state.value
c.compute_node.enable_scheduling("p", n0)
c.compute_node.add_user("p", n0, m.ComputeNodeUser(name="u", password="pw", is_admin=False))
seen["user_dup"] = code(lambda: c.compute_node.add_user("p", n0, m.ComputeNodeUser(name="u")))
c.compute_node.update_user("p", n0, "u", m.NodeUpdateUserParameter(password="pw2"))
c.compute_node.delete_user("p", n0, "u")
login = c.compute_node.get_remote_login_settings("p", n0)
seen["login"] = [login.remote_login_ip_address, login.remote_login_port >= 50000]
seen["extensions"] = list(c.compute_node_extension.list("p", n0))

c.compute_node.reboot("p", n0, node_reboot_option="requeue")
seen["rebooting"] = c.compute_node.get("p", n0).state.value
until("n0 back", lambda: c.compute_node.get("p", n0).state.value == "idle")
c.compute_node.reimage("p", n0, node_reimage_option="terminate")
until("n0 reimaged", lambda: c.compute_node.get("p", n0).state.value == "idle")

c.pool.remove_nodes("p", m.NodeRemoveParameter(node_list=[n1],
    node_deallocation_option="taskcompletion"))
until("one node", lambda: len(list(c.compute_node.list("p"))) == 1)
c.pool.stop_resize("p")
pool = c.pool.get("p")
seen["pool"] = [pool.allocation_state.value, pool.target_dedicated_nodes]
seen["usage"] = sorted({u.pool_id for u in c.pool.list_usage_metrics()})
seen["apps"] = list(c.application.list())
seen["app_missing"] = code(lambda: c.application.get("nope"))
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def sdk14_python() -> Path:
    return _sdk14_python()


def test_msrest_generation_node_operations(
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
    assert seen["subtasks"] == []
    assert seen["deleted"] == [404, "FileNotFound"]
    assert seen["scheduling"] == "disabled"
    assert seen["user_dup"] == [409, "NodeUserExists"]
    assert seen["login"] == ["127.0.0.1", True]
    assert seen["extensions"] == []
    assert seen["rebooting"] in ("rebooting", "starting", "idle")
    assert seen["pool"] == ["steady", 1]
    assert seen["usage"] == ["p"]
    assert seen["apps"] == []
    assert seen["app_missing"] == [404, "ApplicationNotFound"]
