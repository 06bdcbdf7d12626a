"""The oldest SDK the emulator serves, azure-batch 6.0 (api-version 2018-12-01.8.0, msrest),
run by ``test_sdk6.py`` inside its own virtualenv: pools, nodes, jobs, tasks and files end to
end, through the names that generation used (``maxTasksPerNode``, task counts at the top level
of the answer).

Usage: python sdk6_scenario.py URL ACCOUNT KEY. Prints one JSON object of observations; the test
makes the assertions, so a broken run shows what it saw.
"""

import datetime as dt
import json
import sys
import time

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials

URL, ACCOUNT, KEY = sys.argv[1:4]
client = BatchServiceClient(SharedKeyCredentials(ACCOUNT, KEY), batch_url=URL)
seen = {"api_version": client.api_version}
IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.ImageReference(
        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
    ),
    node_agent_sku_id="batch.node.ubuntu 22.04",
)


def wait(predicate, what, timeout=60.0):
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
        # A HEAD's error has no body to name its code: its status is what the SDK sees.
        return exc.error.code or exc.response.status_code
    return None


def value(enum):
    return getattr(enum, "value", enum)


def node_states(pool_id):
    return sorted(value(n.state) for n in client.compute_node.list(pool_id))


# -- pools and nodes ------------------------------------------------------------------------
client.pool.add(
    m.PoolAddParameter(
        id="p6",
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=IMAGE,
        target_dedicated_nodes=2,
        max_tasks_per_node=2,
        start_task=m.StartTask(command_line="/bin/sh -c 'echo ready'", wait_for_success=True),
        metadata=[m.MetadataItem(name="owner", value="sdk6")],
    )
)
seen["pool_dup"] = error_code(
    lambda: client.pool.add(
        m.PoolAddParameter(id="p6", vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE)
    )
)
wait(lambda: node_states("p6") == ["idle", "idle"], "two idle nodes")
pool = client.pool.get("p6")
seen["pool"] = [value(pool.allocation_state), pool.current_dedicated_nodes, pool.max_tasks_per_node]
seen["pool_exists"] = [client.pool.exists("p6"), client.pool.exists("nope")]
seen["pool_ids"] = sorted(p.id for p in client.pool.list())
client.pool.patch("p6", m.PoolPatchParameter(metadata=[m.MetadataItem(name="stage", value="2")]))
seen["metadata"] = [(i.name, i.value) for i in client.pool.get("p6").metadata]
node = next(iter(client.compute_node.list("p6")))
got = client.compute_node.get("p6", node.id)
seen["node"] = [got.id == node.id, value(got.scheduling_state), got.is_dedicated]
seen["node_files"] = sorted(
    f.name for f in client.file.list_from_compute_node("p6", node.id, recursive=True)
)
seen["start_task_stdout"] = b"".join(
    client.file.get_from_compute_node("p6", node.id, "startup/stdout.txt")
).decode()

# -- jobs and tasks -------------------------------------------------------------------------
client.job.add(
    m.JobAddParameter(
        id="j6",
        pool_info=m.PoolInformation(pool_id="p6"),
        priority=5,
        uses_task_dependencies=True,
        constraints=m.JobConstraints(max_task_retry_count=1),
    )
)
seen["job_dup"] = error_code(
    lambda: client.job.add(m.JobAddParameter(id="j6", pool_info=m.PoolInformation(pool_id="p6")))
)
client.job.patch("j6", m.JobPatchParameter(priority=7))
seen["job_priority"] = client.job.get("j6").priority
hello = "/bin/sh -c 'echo hello $AZ_BATCH_TASK_ID; echo oops >&2'"
client.task.add_collection(
    "j6", [m.TaskAddParameter(id=f"t{i}", command_line=hello) for i in range(20)]
)
client.task.add(
    "j6",
    m.TaskAddParameter(
        id="fails",
        command_line="/bin/sh -c 'exit 4'",
        constraints=m.TaskConstraints(max_task_retry_count=0),
    ),
)
client.task.add(
    "j6",
    m.TaskAddParameter(
        id="after", command_line="/bin/true", depends_on=m.TaskDependencies(task_ids=["t0", "t1"])
    ),
)
client.task.add(
    "j6",
    m.TaskAddParameter(
        id="slow",
        command_line="sleep 30",
        constraints=m.TaskConstraints(max_wall_clock_time=dt.timedelta(seconds=1)),
    ),
)
wait(lambda: client.job.get_task_counts("j6").completed == 23, "23 completed tasks")
counts = client.job.get_task_counts("j6")
seen["counts"] = [counts.active, counts.running, counts.completed, counts.succeeded, counts.failed]
seen["task_ids"] = len({t.id for t in client.task.list("j6")})
t0 = client.task.get("j6", "t0")
seen["t0"] = [value(t0.state), t0.execution_info.exit_code, value(t0.execution_info.result)]
seen["t0_node"] = t0.node_info.pool_id
failed = client.task.get("j6", "fails")
failure = failed.execution_info.failure_info
seen["fails"] = [failed.execution_info.exit_code, value(failure.category)]
slow = client.task.get("j6", "slow").execution_info
seen["slow"] = [value(slow.result), slow.failure_info.code]
seen["after"] = value(client.task.get("j6", "after").execution_info.result)
filtered = client.task.list(
    "j6", task_list_options=m.TaskListOptions(filter="executionInfo/result eq 'failure'")
)
seen["failed_ids"] = sorted(t.id for t in filtered)
seen["task_missing"] = error_code(lambda: client.task.get("j6", "nope"))

# -- task files -----------------------------------------------------------------------------
seen["stdout"] = b"".join(client.file.get_from_task("j6", "t3", "stdout.txt")).decode()
seen["stderr"] = b"".join(client.file.get_from_task("j6", "t3", "stderr.txt")).decode()
props = client.file.get_properties_from_task("j6", "t3", "stdout.txt", raw=True)
seen["stdout_length"] = int(props.headers["Content-Length"])
seen["task_files"] = sorted(f.name for f in client.file.list_from_task("j6", "t3"))
seen["file_missing"] = error_code(lambda: client.file.get_properties_from_task("j6", "t3", "x"))
client.file.delete_from_task("j6", "t3", "stderr.txt")
seen["after_delete"] = sorted(f.name for f in client.file.list_from_task("j6", "t3"))

# -- update, reactivate, terminate, resize, delete ------------------------------------------
client.task.update(
    "j6", "fails", constraints=m.TaskConstraints(max_task_retry_count=0, retention_time=None)
)
ended = client.task.get("j6", "fails").execution_info.end_time
client.task.reactivate("j6", "fails")


def ran_again():
    task = client.task.get("j6", "fails")
    info = task.execution_info
    return value(task.state) == "completed" and info.end_time != ended and info


seen["reactivated"] = wait(ran_again, "the reactivated task to run again").exit_code
client.task.add("j6", m.TaskAddParameter(id="long", command_line="sleep 60"))
wait(lambda: value(client.task.get("j6", "long").state) == "running", "long running")
client.task.terminate("j6", "long")
wait(lambda: value(client.task.get("j6", "long").state) == "completed", "long terminated")
client.task.delete("j6", "t19")
seen["deleted_task"] = error_code(lambda: client.task.get("j6", "t19"))
client.job.terminate("j6")
wait(lambda: value(client.job.get("j6").state) == "completed", "job completed")
client.pool.resize("p6", m.PoolResizeParameter(target_dedicated_nodes=1))
wait(lambda: node_states("p6") == ["idle"], "one node after resize")
seen["after_resize"] = client.pool.get("p6").target_dedicated_nodes

# -- job schedules --------------------------------------------------------------------------
spec = m.JobSpecification(pool_info=m.PoolInformation(pool_id="p6"), priority=3)
client.job_schedule.add(
    m.JobScheduleAddParameter(
        id="s6",
        schedule=m.Schedule(recurrence_interval=dt.timedelta(hours=1)),
        job_specification=spec,
    )
)
seen["schedule_dup"] = error_code(
    lambda: client.job_schedule.add(
        m.JobScheduleAddParameter(id="s6", schedule=m.Schedule(), job_specification=spec)
    )
)
seen["schedule_exists"] = [client.job_schedule.exists("s6"), client.job_schedule.exists("nope")]
seen["schedule_ids"] = [s.id for s in client.job_schedule.list()]


def schedule_jobs():
    return sorted(j.id for j in client.job.list_from_job_schedule("s6"))


# Without do_not_run_until the first job is made at once; a task added to it runs.
wait(lambda: schedule_jobs() == ["s6:job-1"], "the schedule's first job")
client.task.add(
    "s6:job-1", m.TaskAddParameter(id="s1", command_line="/bin/sh -c 'echo $AZ_BATCH_JOB_ID'")
)
wait(lambda: value(client.task.get("s6:job-1", "s1").state) == "completed", "s1 completed")
seen["scheduled_run"] = [
    value(client.task.get("s6:job-1", "s1").execution_info.result),
    b"".join(client.file.get_from_task("s6:job-1", "s1", "stdout.txt")).decode(),
    client.job.get("s6:job-1").priority,
]
got = client.job_schedule.get("s6")
seen["schedule"] = [
    value(got.state),
    got.schedule.recurrence_interval.total_seconds(),
    got.execution_info.recent_job.id,
    got.execution_info.next_run_time is not None,
]
client.job_schedule.disable("s6")
seen["schedule_disabled"] = value(client.job_schedule.get("s6").state)
client.job_schedule.enable("s6")
seen["schedule_enabled"] = value(client.job_schedule.get("s6").state)
client.job_schedule.terminate("s6")
wait(lambda: value(client.job_schedule.get("s6").state) == "completed", "schedule completed")
seen["schedule_job_after_terminate"] = value(client.job.get("s6:job-1").state)
client.job_schedule.delete("s6")
wait(lambda: error_code(lambda: client.job_schedule.get("s6")) == "JobScheduleNotFound", "deleted")
seen["schedule_deleted"] = [
    error_code(lambda: client.job.get("s6:job-1")),
    error_code(lambda: client.job_schedule.terminate("s6")),
]

# -- node operations ------------------------------------------------------------------------
node_id = next(iter(client.compute_node.list("p6"))).id
client.compute_node.disable_scheduling("p6", node_id, node_disable_scheduling_option="requeue")
disabled = value(client.compute_node.get("p6", node_id).scheduling_state)
client.compute_node.enable_scheduling("p6", node_id)
seen["scheduling"] = [disabled, value(client.compute_node.get("p6", node_id).scheduling_state)]
booted = client.compute_node.get("p6", node_id).last_boot_time
client.compute_node.reboot("p6", node_id, node_reboot_option="requeue")


def rebooted():
    got = client.compute_node.get("p6", node_id)
    return value(got.state) == "idle" and got.last_boot_time != booted and got


seen["rebooted"] = value(wait(rebooted, "the node rebooted").state)
seen["reboot_missing"] = error_code(lambda: client.compute_node.reboot("p6", "nope"))
# The start task ran again at the boot: its output is there to delete.
wait(
    lambda: value(client.compute_node.get("p6", node_id).start_task_info.state) == "completed",
    "the start task again",
)
client.file.delete_from_compute_node("p6", node_id, "startup/stderr.txt")
node_files = sorted(
    f.name for f in client.file.list_from_compute_node("p6", node_id, recursive=True)
)
seen["node_file_delete"] = [
    "startup/stderr.txt" in node_files,
    "startup/stdout.txt" in node_files,
    error_code(lambda: client.file.delete_from_compute_node("p6", node_id, "startup/stderr.txt")),
]
seen["node_agent_skus"] = {
    sku.id: [[r.publisher, r.offer, r.sku] for r in sku.verified_image_references]
    for sku in client.account.list_node_agent_skus()
}
try:
    client.pool.get_all_lifetime_statistics()
except m.BatchErrorException as exc:
    seen["lifetime_stats"] = [exc.error.code, exc.error.message.value.splitlines()[0]]
seen["node_counts"] = [
    [c.pool_id, c.dedicated.idle, c.dedicated.total, c.low_priority.total]
    for c in client.account.list_pool_node_counts()
]
client.job.delete("j6")
wait(lambda: error_code(lambda: client.job.get("j6")) == "JobNotFound", "job deleted")
client.pool.delete("p6")
wait(lambda: error_code(lambda: client.pool.get("p6")) == "PoolNotFound", "pool deleted")
print(json.dumps(seen))
