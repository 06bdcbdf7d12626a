"""Job schedules, job disable / enable and the preparation status through the msrest-era SDK
(azure-batch 14.2), run by ``test_sdk14_schedules.py`` in the 14.2 virtualenv.

Usage: python sdk14_schedules.py URL ACCOUNT KEY. Prints one JSON object of observations; the
test makes the assertions.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials

URL, ACCOUNT, KEY = sys.argv[1:4]
IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.ImageReference(
        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
    ),
    node_agent_sku_id="batch.node.ubuntu 22.04",
)
client = BatchServiceClient(SharedKeyCredentials(ACCOUNT, KEY), batch_url=URL)
seen: dict[str, object] = {}


def wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def error_code(fn):
    try:
        fn()
    except m.BatchErrorException as exc:
        return exc.error.code
    return None


def state(value):
    return value.value if hasattr(value, "value") else value


client.pool.add(
    m.PoolAddParameter(
        id="p",
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=IMAGE,
        target_dedicated_nodes=1,
    )
)
later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
spec = m.JobSpecification(pool_info=m.PoolInformation(pool_id="p"), priority=2)
client.job_schedule.add(
    m.JobScheduleAddParameter(
        id="s14",
        schedule=m.Schedule(do_not_run_until=later, recurrence_interval=dt.timedelta(hours=1)),
        job_specification=spec,
    )
)
seen["exists"] = client.job_schedule.exists("s14")
seen["exists_missing"] = client.job_schedule.exists("nope")
seen["dup"] = error_code(
    lambda: client.job_schedule.add(
        m.JobScheduleAddParameter(id="s14", schedule=m.Schedule(), job_specification=spec)
    )
)
got = client.job_schedule.get("s14")
seen["state"] = state(got.state)
seen["next_run_off_by"] = abs((got.execution_info.next_run_time - later).total_seconds())
client.job_schedule.patch(
    "s14", m.JobSchedulePatchParameter(metadata=[m.MetadataItem(name="k", value="v")])
)
seen["metadata"] = [(i.name, i.value) for i in client.job_schedule.get("s14").metadata]
client.job_schedule.update(
    "s14",
    m.JobScheduleUpdateParameter(
        schedule=m.Schedule(do_not_run_until=later), job_specification=spec
    ),
)
seen["metadata_after_update"] = client.job_schedule.get("s14").metadata
client.job_schedule.disable("s14")
seen["disabled"] = state(client.job_schedule.get("s14").state)
client.job_schedule.enable("s14")
seen["listed"] = [s.id for s in client.job_schedule.list()]

# A schedule due now makes its first job at once.
client.job_schedule.add(
    m.JobScheduleAddParameter(id="now", schedule=m.Schedule(), job_specification=spec)
)
wait(lambda: list(client.job.list_from_job_schedule("now")), what="a job")
seen["jobs"] = [j.id for j in client.job.list_from_job_schedule("now")]

# Disable / enable the job, and its preparation status (none: it has no preparation task).
client.task.add("now:job-1", m.TaskAddParameter(id="long", command_line="sleep 30"))
wait(lambda: state(client.task.get("now:job-1", "long").state) == "running", what="running")
client.job.disable("now:job-1", "requeue")
wait(lambda: state(client.job.get("now:job-1").state) == "disabled", what="disabled")
task = client.task.get("now:job-1", "long")
seen["requeued"] = [state(task.state), task.execution_info.requeue_count]
client.job.enable("now:job-1")
seen["enabled"] = state(client.job.get("now:job-1").state)
seen["prep_status"] = list(client.job.list_preparation_and_release_task_status("now:job-1"))

client.job_schedule.terminate("now")
wait(lambda: state(client.job_schedule.get("now").state) == "completed", what="completed")
seen["job_after_terminate"] = state(client.job.get("now:job-1").state)
client.job_schedule.delete("now")
wait(lambda: error_code(lambda: client.job_schedule.get("now")) == "JobScheduleNotFound")
seen["job_after_delete"] = error_code(lambda: client.job.get("now:job-1"))
client.job_schedule.delete("s14")
print(json.dumps(seen))
