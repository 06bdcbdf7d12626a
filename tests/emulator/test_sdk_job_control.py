"""Job control through the real azure-batch 15.x SDK: terminating one task of a job that acts
on task failures, disabling and enabling a job (requeue / terminate / wait), and the job
preparation and release task status per node."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from tests.emulator.core_helpers import (
    add,
    completed,
    failure,
    make_job,
    make_pool,
    state_is,
    wait_for,
)


@pytest.fixture()
def pool(batch_client: BatchClient) -> str:
    make_pool(batch_client, "pool", nodes=1, slots=2)
    return "pool"


def _job_state(client: BatchClient, job_id: str, state: str) -> m.BatchJob:
    return wait_for(
        f"job {state}", lambda: (lambda j: j if j.state == state else None)(client.get_job(job_id))
    )


def test_terminating_a_task_leaves_a_failure_acting_job_active(
    batch_client: BatchClient, pool: str
) -> None:
    make_job(batch_client, "acts", pool, task_failure_mode="performexitoptionsjobaction")
    add(batch_client, "acts", "long", "sleep 30")
    state_is(batch_client, "acts", "long", "running")
    batch_client.terminate_task("acts", "long")
    task = completed(batch_client, "acts", "long")
    assert failure(task).code == "TaskEnded"
    # The user ended one task: the job goes on (no exit option says to terminate it).
    add(batch_client, "acts", "after", "true")
    assert completed(batch_client, "acts", "after").execution_info.result == "success"  # type: ignore[union-attr]
    assert batch_client.get_job("acts").state == "active"


def test_a_terminated_task_whose_exit_options_say_so_terminates_the_job(
    batch_client: BatchClient, pool: str
) -> None:
    make_job(batch_client, "ends", pool, task_failure_mode="performexitoptionsjobaction")
    ends = m.ExitConditions(default=m.ExitOptions(job_action="terminate"))
    add(batch_client, "ends", "queued", "sleep 30", exit_conditions=ends)
    add(batch_client, "ends", "other", "sleep 30")
    state_is(batch_client, "ends", "queued", "running")
    batch_client.terminate_task("ends", "queued")
    job = _job_state(batch_client, "ends", "completed")
    assert job.execution_info is not None
    assert job.execution_info.termination_reason == "TaskFailed"
