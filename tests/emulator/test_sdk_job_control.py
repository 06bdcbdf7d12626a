"""Job control through the real azure-batch 15.x SDK: terminating one task of a job that acts
on task failures, disabling and enabling a job (requeue / terminate / wait), and the job
preparation and release task status per node."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError

from tests.emulator.core_helpers import (
    POLL,
    add,
    completed,
    failure,
    make_job,
    make_pool,
    node_of,
    state_is,
    wait_for,
)


def _code(fn: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as info:
        fn()
    return int(info.value.status_code or 0), str(info.value.error.code)


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


def _disable(client: BatchClient, job_id: str, how: str) -> None:
    client.begin_disable_job(
        job_id, m.BatchJobDisableOptions(disable_tasks=how), polling_interval=POLL
    ).result()


def _enable(client: BatchClient, job_id: str) -> None:
    client.begin_enable_job(job_id, polling_interval=POLL).result()


def test_disable_requeue_puts_running_tasks_back_and_holds_the_job(
    batch_client: BatchClient, pool: str
) -> None:
    make_job(batch_client, "dq", pool)
    add(batch_client, "dq", "long", "sleep 30")
    state_is(batch_client, "dq", "long", "running")
    _disable(batch_client, "dq", "requeue")
    job = batch_client.get_job("dq")
    assert job.state == "disabled" and job.previous_state == "disabling"
    task = batch_client.get_task("dq", "long")
    assert task.state == "active"
    assert task.execution_info is not None and task.execution_info.requeue_count == 1
    # Nothing starts while the job is disabled, a task added meanwhile neither.
    add(batch_client, "dq", "new", "true")
    with pytest.raises(AssertionError):
        state_is(batch_client, "dq", "new", "completed", timeout=1.5)
    assert batch_client.get_task("dq", "long").state == "active"
    assert _code(lambda: _disable(batch_client, "dq", "wait")) == (409, "JobNotActive")
    _enable(batch_client, "dq")
    assert batch_client.get_job("dq").state == "active"
    assert completed(batch_client, "dq", "new").execution_info.result == "success"  # type: ignore[union-attr]
    state_is(batch_client, "dq", "long", "running")


def test_disable_terminate_ends_running_tasks_and_wait_lets_them_finish(
    batch_client: BatchClient, pool: str
) -> None:
    make_job(batch_client, "dt", pool)
    add(batch_client, "dt", "long", "sleep 30")
    state_is(batch_client, "dt", "long", "running")
    _disable(batch_client, "dt", "terminate")
    task = batch_client.get_task("dt", "long")
    assert task.state == "completed" and failure(task).code == "TaskEnded"
    assert batch_client.get_job("dt").state == "disabled"

    make_job(batch_client, "dw", pool)
    add(batch_client, "dw", "short", "/bin/sh -c 'sleep 1; echo done'")
    state_is(batch_client, "dw", "short", "running")
    _disable(batch_client, "dw", "wait")  # returns once the running task has finished
    assert batch_client.get_job("dw").state == "disabled"
    assert batch_client.get_task("dw", "short").execution_info.result == "success"  # type: ignore[union-attr]
    # A disabled job can still be terminated.
    batch_client.begin_terminate_job(
        "dw", BatchJobTerminateOptions(termination_reason="stop"), polling_interval=POLL
    ).result()
    assert batch_client.get_job("dw").state == "completed"
    assert _code(lambda: _disable(batch_client, "dw", "wait")) == (409, "JobCompleted")


def test_preparation_and_release_status_per_node(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "plain", pool)
    assert list(batch_client.list_job_preparation_and_release_task_status("plain")) == []
    make_job(
        batch_client,
        "prep",
        pool,
        job_preparation_task=m.BatchJobPreparationTask(command_line="/bin/sh -c 'exit 0'"),
        job_release_task=m.BatchJobReleaseTask(command_line="/bin/sh -c 'exit 3'"),
    )
    assert list(batch_client.list_job_preparation_and_release_task_status("prep")) == []
    add(batch_client, "prep", "t", "true")
    completed(batch_client, "prep", "t")
    (status,) = batch_client.list_job_preparation_and_release_task_status("prep")
    assert (
        status.pool_id == pool
        and status.node_id == node_of(batch_client.get_task("prep", "t")).node_id
    )
    prep = status.job_preparation_task_execution_info
    assert prep is not None and prep.state == "completed" and prep.exit_code == 0
    assert prep.result == "success" and prep.retry_count == 0 and prep.start_time is not None
    assert status.job_release_task_execution_info is None
    batch_client.begin_terminate_job(
        "prep", BatchJobTerminateOptions(termination_reason="stop"), polling_interval=POLL
    ).result()
    (status,) = batch_client.list_job_preparation_and_release_task_status("prep")
    release = status.job_release_task_execution_info
    assert release is not None and release.state == "completed"
    assert release.exit_code == 3 and release.result == "failure"
    assert _code(
        lambda: list(batch_client.list_job_preparation_and_release_task_status("nope"))
    ) == (404, "JobNotFound")
