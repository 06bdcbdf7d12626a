"""Job semantics through the real SDK: dependencies, terminate and delete (process groups really
gone), onAllTasksComplete, onTaskFailure, job preparation and release tasks."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError

from tests.emulator.core_helpers import (
    POLL,
    add,
    alive,
    completed,
    error_code,
    failure,
    file_text,
    info,
    job_info,
    make_job,
    make_pool,
    node_of,
    state_is,
    stdout,
    times,
    wait_for,
)


@pytest.fixture()
def pool(batch_client: BatchClient) -> str:
    make_pool(batch_client, "pool", nodes=2, slots=2)
    return "pool"


def terminate(client: BatchClient, job_id: str) -> None:
    # 15.1.0 cannot send a terminate without a (non-empty) options body; the model lives in
    # azure.batch.models._models only.
    client.begin_terminate_job(
        job_id, BatchJobTerminateOptions(termination_reason="Stopped"), polling_interval=POLL
    ).result()


def _job_state(client: BatchClient, job_id: str, state: str) -> m.BatchJob:
    return wait_for(
        f"job {state}", lambda: (lambda j: j if j.state == state else None)(client.get_job(job_id))
    )


def test_dependencies_by_ids_and_ranges_and_blocking(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "deps", pool, uses_task_dependencies=True)
    deps = m.BatchTaskDependencies
    add(
        batch_client,
        "deps",
        "after",
        "/bin/true",
        depends_on=deps(task_ids=["first"], task_id_ranges=[m.BatchTaskIdRange(start=1, end=3)]),
    )
    add(batch_client, "deps", "first", "/bin/true")
    for i in (1, 2, 3):
        add(batch_client, "deps", str(i), "/bin/sleep 0.2")
    add(batch_client, "deps", "bad", "/bin/false")
    add(batch_client, "deps", "blocked", "/bin/true", depends_on=deps(task_ids=["bad"]))
    done = completed(batch_client, "deps", "after")
    assert info(done).result == "success"
    first_three = [completed(batch_client, "deps", str(i)) for i in (1, 2, 3)]
    assert times(done)[0] >= max(times(t)[1] for t in first_three)
    completed(batch_client, "deps", "bad")
    assert batch_client.get_task("deps", "blocked").state == "active"


def test_dependencies_need_the_job_flag(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "plain", pool)
    with pytest.raises(HttpResponseError) as caught:
        add(
            batch_client,
            "plain",
            "t",
            "/bin/true",
            depends_on=m.BatchTaskDependencies(task_ids=["x"]),
        )
    assert error_code(caught) == "TaskDependenciesNotSpecifiedOnJob"


def _running_pid(client: BatchClient, job_id: str, task_id: str) -> int:
    add(client, job_id, task_id, "/bin/sh -c 'sleep 30 & echo $! > child; wait'")
    state_is(client, job_id, task_id, "running")
    return int(wait_for("child pid", lambda: file_text(client, job_id, task_id, "wd/child")))


def test_terminate_job_kills_running_tasks(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "term", pool)
    child = _running_pid(batch_client, "term", "long")
    terminate(batch_client, "term")
    job = batch_client.get_job("term")
    assert job.state == "completed"
    assert job_info(job).termination_reason == "Stopped"
    task = completed(batch_client, "term", "long")
    assert failure(task).code == "TaskEnded"
    wait_for("the child to be gone", lambda: not alive(child), timeout=3)
    with pytest.raises(HttpResponseError) as caught:
        add(batch_client, "term", "late", "/bin/true")
    assert error_code(caught) == "JobCompleted"


def test_delete_job_kills_running_tasks(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "gone", pool)
    child = _running_pid(batch_client, "gone", "long")
    batch_client.begin_delete_job("gone", polling_interval=POLL).result()
    with pytest.raises(HttpResponseError) as caught:
        batch_client.get_job("gone")
    assert error_code(caught) == "JobNotFound"
    wait_for("the child to be gone", lambda: not alive(child), timeout=3)


def test_on_all_tasks_complete_terminates_the_job(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "auto", pool)
    for i in range(3):
        add(batch_client, "auto", f"t{i}", "/bin/true")
    batch_client.update_job("auto", m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    job = _job_state(batch_client, "auto", "completed")
    assert job_info(job).termination_reason == "AllTasksComplete"
    assert batch_client.get_job_task_counts("auto").task_counts.succeeded == 3


def test_on_task_failure_terminates_the_job(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "strict", pool, task_failure_mode="performexitoptionsjobaction")
    add(batch_client, "strict", "ok", "/bin/true")
    completed(batch_client, "strict", "ok")
    assert batch_client.get_job("strict").state == "active"
    add(batch_client, "strict", "bad", "/bin/false")
    job = _job_state(batch_client, "strict", "completed")
    assert job_info(job).termination_reason == "TaskFailed"


def test_job_preparation_and_release(batch_client: BatchClient, tmp_path: Path) -> None:
    make_pool(batch_client, "one", nodes=1, slots=1)
    marker = tmp_path / "released"
    make_job(
        batch_client,
        "prep",
        "one",
        job_preparation_task=m.BatchJobPreparationTask(
            command_line="/bin/sh -c 'echo ready > $AZ_BATCH_NODE_SHARED_DIR/prep'"
        ),
        job_release_task=m.BatchJobReleaseTask(command_line=f"/bin/touch {marker}"),
    )
    add(
        batch_client,
        "prep",
        "t",
        "/bin/sh -c 'cat $AZ_BATCH_NODE_SHARED_DIR/prep; test -d $AZ_BATCH_JOB_PREP_WORKING_DIR'",
    )
    task = completed(batch_client, "prep", "t")
    assert info(task).result == "success"
    assert stdout(batch_client, "prep", "t") == "ready\n"
    terminate(batch_client, "prep")
    assert marker.exists()


def test_failed_preparation_keeps_tasks_off_the_node(batch_client: BatchClient) -> None:
    make_pool(batch_client, "one", nodes=1, slots=1)
    make_job(
        batch_client,
        "noprep",
        "one",
        job_preparation_task=m.BatchJobPreparationTask(command_line="/bin/false"),
    )
    add(batch_client, "noprep", "t", "/bin/true")
    wait_for(
        "the preparation to fail",
        lambda: batch_client.get_task("noprep", "t").previous_state == "preparing",
    )
    assert batch_client.get_task("noprep", "t").state == "active"


def test_max_parallel_tasks_caps_the_job(batch_client: BatchClient, pool: str) -> None:
    make_job(batch_client, "narrow", pool, max_parallel_tasks=1)
    for i in range(3):
        add(batch_client, "narrow", f"t{i}", "/bin/sleep 0.2")
    done = [completed(batch_client, "narrow", f"t{i}") for i in range(3)]
    spans = sorted(times(t) for t in done)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_job_wall_clock_terminates_it(batch_client: BatchClient, pool: str) -> None:
    make_job(
        batch_client,
        "timed",
        pool,
        constraints=m.BatchJobConstraints(max_wall_clock_time=dt.timedelta(seconds=1)),
    )
    add(batch_client, "timed", "long", "/bin/sleep 30")
    job = wait_for(
        "the job to time out",
        lambda: (lambda j: j if j.state == "completed" else None)(batch_client.get_job("timed")),
        timeout=5,
    )
    assert job_info(job).termination_reason == "MaxWallClockTimeExpiry"
    assert failure(completed(batch_client, "timed", "long")).code == ("TaskEnded")


def test_pack_fills_one_node_first(batch_client: BatchClient) -> None:
    pack = m.BatchTaskSchedulingPolicy(node_fill_type="pack")
    make_pool(batch_client, "packed", nodes=2, slots=2, task_scheduling_policy=pack)
    make_job(batch_client, "pk", "packed")
    add(batch_client, "pk", "a", "/bin/sleep 0.5")
    add(batch_client, "pk", "b", "/bin/sleep 0.5")
    nodes = {node_of(state_is(batch_client, "pk", t, "running")).node_id for t in "ab"}
    assert len(nodes) == 1


def test_deleting_a_job_kills_its_running_preparation(
    batch_client: BatchClient, tmp_path: Path
) -> None:
    make_pool(batch_client, "one", nodes=1, slots=1)
    pid_file = tmp_path / "prep.pid"
    make_job(
        batch_client,
        "slowprep",
        "one",
        job_preparation_task=m.BatchJobPreparationTask(
            command_line=f"/bin/sh -c 'echo $$ > {pid_file}; exec sleep 30'"
        ),
    )
    add(batch_client, "slowprep", "t", "/bin/true")
    state_is(batch_client, "slowprep", "t", "preparing")
    pid = int(wait_for("prep pid", lambda: pid_file.read_text() if pid_file.exists() else ""))
    batch_client.begin_delete_job("slowprep", polling_interval=POLL).result()
    wait_for("the preparation to be gone", lambda: not alive(pid), timeout=3)
