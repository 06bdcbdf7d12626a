"""The msrest-era SDK scenario, run by ``test_sdk14.py`` inside a virtualenv holding
azure-batch 14.2 (it cannot share a process with azure-batch 15).

Usage: python sdk14_scenario.py URL ACCOUNT KEY WORKDIR. Prints one JSON object of observations;
the test makes the assertions, so a broken run shows what it saw.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import time

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials

URL, ACCOUNT, KEY, WORKDIR = sys.argv[1:5]
IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.ImageReference(
        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts",
        version="latest",
    ),
    node_agent_sku_id="batch.node.ubuntu 22.04",
)
ADMIN = m.UserIdentity(auto_user=m.AutoUserSpecification(scope="pool", elevation_level="admin"))
client = BatchServiceClient(SharedKeyCredentials(ACCOUNT, KEY), batch_url=URL)
seen: dict[str, object] = {}


def wait(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def error_code(fn):
    try:
        fn()
    except m.BatchErrorException as exc:
        return exc.error.code
    return None


def add_pool(pool_id, start_cmd, nodes=2):
    client.pool.add(m.PoolAddParameter(
        id=pool_id, vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE,
        target_dedicated_nodes=nodes, task_slots_per_node=1,
        start_task=m.StartTask(command_line=start_cmd, wait_for_success=True,
                               user_identity=ADMIN),
    ))


def node_states(pool_id):
    return sorted(n.state.value if hasattr(n.state, "value") else n.state
                  for n in client.compute_node.list(pool_id))


def task_counts(job_id):
    return client.job.get_task_counts(job_id).task_counts


# -- pools: start task success and failure ------------------------------------------------
add_pool("p14", "/bin/sh -c 'echo started'")
seen["pool_dup"] = error_code(lambda: add_pool("p14", "/bin/true"))
wait(lambda: node_states("p14") == ["idle", "idle"], what="idle nodes")
seen["pool_exists"] = client.pool.exists("p14")
seen["pool_exists_missing"] = client.pool.exists("nope")
add_pool("pbad", "/bin/sh -c 'echo boom >&2; exit 3'", nodes=1)
wait(lambda: node_states("pbad") == ["starttaskfailed"], what="starttaskfailed")
bad_node = next(iter(client.compute_node.list("pbad")))
seen["start_task_exit"] = bad_node.start_task_info.exit_code
client.pool.delete("pbad")

# -- 250 tasks through the add_collection helper, paging, counts, filters ------------------
client.job.add(m.JobAddParameter(id="j14", pool_info=m.PoolInformation(pool_id="p14"),
                                 uses_task_dependencies=True))
seen["job_dup"] = error_code(lambda: client.job.add(
    m.JobAddParameter(id="j14", pool_info=m.PoolInformation(pool_id="p14"))))
hello = "/bin/sh -c 'echo hello $AZ_BATCH_TASK_ID'"
tasks = [m.TaskAddParameter(id=f"t{i:03d}", command_line=hello) for i in range(250)]
client.task.add_collection("j14", tasks, threads=4)
wait(lambda: task_counts("j14").completed == 250, what="250 completed")
counts = task_counts("j14")
seen["counts"] = [counts.active, counts.running, counts.completed, counts.succeeded, counts.failed]
paged = list(client.task.list("j14", task_list_options=m.TaskListOptions(max_results=40)))
seen["paged_ids"] = len({t.id for t in paged})
seen["selected"] = sorted({tuple(sorted(k for k, v in t.as_dict().items() if v is not None))
                           for t in client.task.list("j14", task_list_options=m.TaskListOptions(
                               select="id,state"))})
seen["task_missing"] = error_code(lambda: client.task.get("j14", "nope"))
seen["stdout"] = b"".join(client.file.get_from_task("j14", "t007", "stdout.txt")).decode()
seen["files"] = sorted(f.name for f in client.file.list_from_task("j14", "t007", recursive=True))

# -- retries, wall clock, failures, dependencies --------------------------------------------
counter = f"{WORKDIR}/retry-count"
client.task.add("j14", m.TaskAddParameter(
    id="retry", command_line=f"/bin/sh -c 'echo x >> {counter}; [ $(wc -l < {counter}) -ge 3 ]'",
    constraints=m.TaskConstraints(max_task_retry_count=3)))
client.task.add("j14", m.TaskAddParameter(
    id="slow", command_line="sleep 30",
    constraints=m.TaskConstraints(max_wall_clock_time=dt.timedelta(seconds=1))))
client.task.add("j14", m.TaskAddParameter(id="fails", command_line="/bin/sh -c 'exit 7'"))
client.task.add("j14", m.TaskAddParameter(
    id="after-ok", command_line="/bin/true", depends_on=m.TaskDependencies(task_ids=["t000"])))
client.task.add("j14", m.TaskAddParameter(
    id="after-fail", command_line="/bin/true", depends_on=m.TaskDependencies(task_ids=["fails"])))
wait(lambda: task_counts("j14").completed == 254, timeout=30, what="extra tasks")
retry = client.task.get("j14", "retry")
seen["retry"] = [retry.execution_info.result.value, retry.execution_info.retry_count]
slow = client.task.get("j14", "slow")
info = slow.execution_info.failure_info
seen["slow"] = [slow.execution_info.result.value, info.category.value, info.code]
elapsed = slow.execution_info.end_time - slow.execution_info.start_time
seen["slow_seconds"] = elapsed.total_seconds()
fails = client.task.get("j14", "fails")
seen["fails_exit"] = fails.execution_info.exit_code
seen["after_fail_state"] = client.task.get("j14", "after-fail").state.value
failed = list(client.task.list("j14", task_list_options=m.TaskListOptions(
    filter="executionInfo/result eq 'failure'", select="id")))
seen["failed_ids"] = sorted(t.id for t in failed)

# -- terminate and delete ------------------------------------------------------------------
client.job.add(m.JobAddParameter(id="jlong", pool_info=m.PoolInformation(pool_id="p14")))
client.task.add("jlong", m.TaskAddParameter(id="long", command_line="sleep 60"))
wait(lambda: client.task.get("jlong", "long").state.value == "running", what="long running")
client.job.terminate("jlong")
wait(lambda: client.job.get("jlong").state.value == "completed", what="job completed")
seen["terminated_task"] = client.task.get("jlong", "long").state.value
client.job.delete("jlong")
wait(lambda: error_code(lambda: client.job.get("jlong")) == "JobNotFound", what="job deleted")

# -- a wrong key -----------------------------------------------------------------------------
wrong = base64.b64encode(b"not the key" * 4).decode()
intruder = BatchServiceClient(SharedKeyCredentials(ACCOUNT, wrong), batch_url=URL)
seen["wrong_key"] = error_code(lambda: intruder.pool.get("p14"))

client.job.delete("j14")
client.pool.delete("p14")
print(json.dumps(seen))
