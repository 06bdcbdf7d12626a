"""Job schedules and auto pools through the real azure-batch 15.x SDK: the ten schedule
operations and the jobs a schedule makes on its recurrence (time compressed by the control
clock, so an hourly schedule runs in seconds), and pools made for a job or a schedule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from batchflow.emulator.http.control import ControlClient
from batchflow.emulator.server import EmulatorServer
from tests.emulator.core_helpers import (
    IMAGE,
    POLL,
    add,
    completed,
    make_job,
    make_pool,
    node_of,
    wait_for,
)


def _code(fn: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as info:
        fn()
    return int(info.value.status_code or 0), str(info.value.error.code)


def _control(emulator: Any) -> ControlClient:
    return ControlClient(emulator.url, emulator.account, emulator.key)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _spec(pool_id: str = "pool", **kwargs: Any) -> m.BatchJobSpecification:
    return m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id=pool_id), **kwargs)


def _schedule(
    client: BatchClient, schedule_id: str, spec: m.BatchJobSpecification, **when: Any
) -> None:
    client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id=schedule_id,
            schedule=m.BatchJobScheduleConfiguration(**when),
            job_specification=spec,
            metadata=[m.BatchMetadataItem(name="k", value="v")],
        )
    )


def _state(client: BatchClient, schedule_id: str, state: str) -> m.BatchJobSchedule:
    return wait_for(
        f"schedule {state}",
        lambda: (lambda s: s if s.state == state else None)(client.get_job_schedule(schedule_id)),
    )


def _job_ids(client: BatchClient, schedule_id: str) -> list[str]:
    return [str(j.id) for j in client.list_jobs_from_schedule(schedule_id)]


@pytest.fixture()
def pool(batch_client: BatchClient) -> str:
    make_pool(batch_client, "pool", nodes=1, slots=2)
    return "pool"


def test_an_hourly_schedule_makes_its_jobs_on_time(
    batch_client: BatchClient, emulator: Any, pool: str
) -> None:
    _control(emulator).set_clock_speed(3600)  # an emulated hour per second
    # Each job completes as soon as it has no task left, so the next one may start.
    spec = _spec(all_tasks_complete_mode="terminatejob")
    _schedule(batch_client, "hourly", spec, recurrence_interval=dt.timedelta(hours=1))
    wait_for("three jobs", lambda: len(_job_ids(batch_client, "hourly")) >= 3, timeout=30)
    ids = _job_ids(batch_client, "hourly")
    assert ids[:3] == ["hourly:job-1", "hourly:job-2", "hourly:job-3"]
    schedule = batch_client.get_job_schedule("hourly")
    assert schedule.state == "active"
    info = schedule.execution_info
    assert info is not None and info.recent_job is not None
    assert str(info.recent_job.id).startswith("hourly:job-")
    assert info.next_run_time is not None and info.end_time is None
    assert batch_client.get_job("hourly:job-1").state == "completed"

    batch_client.begin_terminate_job_schedule("hourly", polling_interval=POLL).result()
    schedule = batch_client.get_job_schedule("hourly")
    assert schedule.state == "completed"
    assert schedule.execution_info is not None and schedule.execution_info.end_time is not None
    assert schedule.execution_info.next_run_time is None
    made = len(_job_ids(batch_client, "hourly"))
    assert all(j.state == "completed" for j in batch_client.list_jobs_from_schedule("hourly"))

    batch_client.begin_delete_job_schedule("hourly", polling_interval=POLL).result()
    assert _code(lambda: batch_client.get_job_schedule("hourly")) == (404, "JobScheduleNotFound")
    assert made >= 3
    assert not [j for j in batch_client.list_jobs() if str(j.id).startswith("hourly:")]


def test_a_one_off_schedule_waits_for_its_time_and_completes_with_its_job(
    batch_client: BatchClient, emulator: Any, pool: str
) -> None:
    _control(emulator).set_clock_speed(3600)
    until = _now() + dt.timedelta(hours=3)
    _schedule(batch_client, "once", _spec(), do_not_run_until=until)
    first = batch_client.get_job_schedule("once").execution_info
    assert first is not None and first.next_run_time is not None
    assert abs((first.next_run_time - until).total_seconds()) < 1
    assert _job_ids(batch_client, "once") == []
    job_id = wait_for("the job", lambda: _job_ids(batch_client, "once"), timeout=30)[0]
    assert job_id == "once:job-1"
    add(batch_client, job_id, "t", "echo scheduled")
    assert completed(batch_client, job_id, "t").execution_info.result == "success"  # type: ignore[union-attr]
    assert batch_client.get_job_schedule("once").state == "active"  # its job is still active
    batch_client.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    schedule = _state(batch_client, "once", "completed")
    assert schedule.execution_info is not None and schedule.execution_info.end_time is not None
    assert _job_ids(batch_client, "once") == ["once:job-1"]


def test_a_missed_start_window_makes_no_job(batch_client: BatchClient, pool: str) -> None:
    _schedule(
        batch_client,
        "late",
        _spec(),
        do_not_run_until=_now() - dt.timedelta(hours=2),
        start_window=dt.timedelta(hours=1),
    )
    _state(batch_client, "late", "completed")
    assert _job_ids(batch_client, "late") == []


def test_schedule_operations_and_their_errors(
    batch_client: BatchClient, emulator: Any, pool: str
) -> None:
    later = _now() + dt.timedelta(days=1)
    _schedule(batch_client, "ops", _spec(priority=5), do_not_run_until=later)
    assert batch_client.job_schedule_exists("ops")
    # 15.1.0 raises on the 404 of HEAD (its error policy runs before exists() reads it).
    with pytest.raises(HttpResponseError) as missing:
        batch_client.job_schedule_exists("nope")
    assert missing.value.status_code == 404
    assert _code(lambda: batch_client.get_job_schedule("nope")) == (404, "JobScheduleNotFound")
    assert _code(lambda: _schedule(batch_client, "OPS", _spec())) == (409, "JobScheduleExists")
    assert _code(lambda: make_job(batch_client, "ops", pool)) == (
        409,
        "JobScheduleWithSameIdExists",
    )
    make_job(batch_client, "plain", pool)
    assert _code(lambda: _schedule(batch_client, "plain", _spec())) == (409, "JobWithSameIdExists")
    assert _code(
        lambda: _schedule(
            batch_client, "fast", _spec(), recurrence_interval=dt.timedelta(seconds=5)
        )
    ) == (400, "InvalidPropertyValue")

    got = batch_client.get_job_schedule("ops")
    assert got.job_specification.priority == 5
    assert got.metadata is not None and got.metadata[0].name == "k"
    assert got.job_schedule_statistics is None
    stats = batch_client.get_job_schedule("ops", expand=["stats"]).job_schedule_statistics
    assert stats is not None and stats.succeeded_tasks_count == 0

    # PATCH: what it gives replaces; the rest stays.
    batch_client.update_job_schedule(
        "ops", m.BatchJobScheduleUpdateOptions(job_specification=_spec(priority=7))
    )
    got = batch_client.get_job_schedule("ops")
    assert got.job_specification.priority == 7 and got.metadata is not None
    # PUT: what it does not give is cleared.
    batch_client.replace_job_schedule(
        "ops",
        m.BatchJobSchedule(
            schedule=m.BatchJobScheduleConfiguration(do_not_run_until=later),
            job_specification=_spec(priority=1),
        ),
    )
    got = batch_client.get_job_schedule("ops")
    assert got.job_specification.priority == 1 and not got.metadata

    batch_client.disable_job_schedule("ops")
    assert batch_client.get_job_schedule("ops").state == "disabled"
    listed = list(batch_client.list_job_schedules(filter="state eq 'disabled'"))
    assert [s.id for s in listed] == ["ops"]
    batch_client.enable_job_schedule("ops")
    assert batch_client.get_job_schedule("ops").state == "active"

    # The control's "run now" makes the next job at once.
    _control(emulator).run_job_schedule("ops")
    assert _job_ids(batch_client, "ops") == ["ops:job-1"]
    assert batch_client.get_job("ops:job-1").priority == 1

    batch_client.begin_terminate_job_schedule("ops", polling_interval=POLL).result()
    assert batch_client.get_job("ops:job-1").state == "completed"
    assert _code(lambda: batch_client.disable_job_schedule("ops")) == (409, "JobScheduleCompleted")
    batch_client.begin_delete_job_schedule("ops", polling_interval=POLL).result()
    assert _code(lambda: batch_client.get_job("ops:job-1")) == (404, "JobNotFound")


def test_a_disabled_schedule_makes_no_job(
    batch_client: BatchClient, emulator: Any, pool: str
) -> None:
    _schedule(batch_client, "held", _spec(), do_not_run_until=_now() + dt.timedelta(hours=1))
    batch_client.disable_job_schedule("held")
    # A schedule that never runs, whose nextRunTime (after a PATCH without doNotRunUntil) is
    # the emulated now: it shows when the held schedule's due time has passed.
    _schedule(batch_client, "probe", _spec(), do_not_run_until=_now() + dt.timedelta(days=3650))
    batch_client.disable_job_schedule("probe")
    _control(emulator).set_clock_speed(3600)
    two_hours_on = _now() + dt.timedelta(hours=2)
    wait_for("the due time to pass", lambda: _emulated_now(batch_client) > two_hours_on)
    assert _job_ids(batch_client, "held") == []
    batch_client.enable_job_schedule("held")
    wait_for("the job", lambda: _job_ids(batch_client, "held"))


def _emulated_now(client: BatchClient) -> dt.datetime:
    client.update_job_schedule(
        "probe", m.BatchJobScheduleUpdateOptions(schedule=m.BatchJobScheduleConfiguration())
    )
    info = client.get_job_schedule("probe").execution_info
    assert info is not None and info.next_run_time is not None
    return info.next_run_time


def test_deleting_a_schedule_kills_its_running_tasks(
    batch_client: BatchClient, emulator: Any, pool: str
) -> None:
    _schedule(batch_client, "busy", _spec())
    job_id = wait_for("the job", lambda: _job_ids(batch_client, "busy"))[0]
    add(batch_client, job_id, "long", "sleep 60")
    wait_for("running", lambda: batch_client.get_task(job_id, "long").state == "running")
    batch_client.begin_delete_job_schedule("busy", polling_interval=POLL).result()
    assert _code(lambda: batch_client.get_job(job_id)) == (404, "JobNotFound")
    wait_for(
        "the node idle",
        lambda: all(n.state == "idle" for n in batch_client.list_nodes("pool")),
    )


# --- auto pools ------------------------------------------------------------------------------
def _auto(lifetime: str, keep_alive: bool = False) -> m.BatchPoolInfo:
    return m.BatchPoolInfo(
        auto_pool_specification=m.BatchAutoPoolSpecification(
            auto_pool_id_prefix="ap",
            pool_lifetime_option=lifetime,
            keep_alive=keep_alive,
            pool=m.BatchPoolSpecification(
                vm_size="standard_d2s_v3",
                virtual_machine_configuration=IMAGE,
                target_dedicated_nodes=1,
            ),
        )
    )


def _pool_ids(client: BatchClient) -> set[str]:
    return {str(p.id) for p in client.list_pools()}


def _job_pool(client: BatchClient, job_id: str) -> str:
    info = client.get_job(job_id).execution_info
    assert info is not None and info.pool_id is not None
    return str(info.pool_id)


def test_a_job_with_an_auto_pool_runs_on_it_and_takes_it_away(batch_client: BatchClient) -> None:
    batch_client.create_job(m.BatchJobCreateOptions(id="aj", pool_info=_auto("job")))
    job = batch_client.get_job("aj")
    assert job.pool_info.auto_pool_specification is not None  # as given
    pool_id = _job_pool(batch_client, "aj")
    assert pool_id.startswith("ap_") and pool_id in _pool_ids(batch_client)
    add(batch_client, "aj", "t", "echo on the auto pool")
    task = completed(batch_client, "aj", "t")
    assert node_of(task).pool_id == pool_id
    batch_client.begin_terminate_job(
        "aj", BatchJobTerminateOptions(termination_reason="done"), polling_interval=POLL
    ).result()
    wait_for("the auto pool gone", lambda: pool_id not in _pool_ids(batch_client))

    batch_client.create_job(m.BatchJobCreateOptions(id="kept", pool_info=_auto("job", True)))
    kept = _job_pool(batch_client, "kept")
    batch_client.begin_delete_job("kept", polling_interval=POLL).result()
    assert kept in _pool_ids(batch_client)  # keepAlive
    assert _code(
        lambda: batch_client.create_job(
            m.BatchJobCreateOptions(id="bad", pool_info=_auto("jobschedule"))
        )
    ) == (400, "InvalidPropertyValue")
    assert _code(
        lambda: batch_client.create_job(
            m.BatchJobCreateOptions(id="none", pool_info=m.BatchPoolInfo())
        )
    ) == (400, "MissingRequiredProperty")


def test_a_schedules_jobs_share_its_auto_pool_until_it_ends(
    batch_client: BatchClient, emulator: Any
) -> None:
    _control(emulator).set_clock_speed(3600)
    spec = m.BatchJobSpecification(
        pool_info=_auto("jobschedule"), all_tasks_complete_mode="terminatejob"
    )
    _schedule(batch_client, "sp", spec, recurrence_interval=dt.timedelta(hours=1))
    wait_for("two jobs", lambda: len(_job_ids(batch_client, "sp")) >= 2, timeout=30)
    first, second = _job_ids(batch_client, "sp")[:2]
    pool_id = _job_pool(batch_client, first)
    assert _job_pool(batch_client, second) == pool_id
    assert pool_id in _pool_ids(batch_client)  # its jobs completed; the schedule goes on
    batch_client.begin_terminate_job_schedule("sp", polling_interval=POLL).result()
    wait_for("the auto pool gone", lambda: pool_id not in _pool_ids(batch_client))


def test_a_schedule_goes_on_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmulatorServer(data_dir=data, nodes_max=2) as first:
        client = _client(first)
        make_pool(client, "pool", nodes=1)
        spec = _spec(all_tasks_complete_mode="terminatejob")
        _schedule(client, "kept", spec, recurrence_interval=dt.timedelta(hours=1))
        wait_for("the first job", lambda: _job_ids(client, "kept"))
        _schedule(client, "gone", _spec(), do_not_run_until=_now() + dt.timedelta(days=1))
    with EmulatorServer(data_dir=data, nodes_max=2) as second:
        client = _client(second)
        assert client.get_job_schedule("kept").state == "active"
        assert _job_ids(client, "kept") == ["kept:job-1"]
        _control(second).set_clock_speed(3600)
        wait_for("the next job", lambda: "kept:job-2" in _job_ids(client, "kept"), timeout=30)
        client.begin_delete_job_schedule("gone", polling_interval=POLL).result()
        assert [s.id for s in client.list_job_schedules()] == ["kept"]


def _client(server: EmulatorServer) -> BatchClient:
    return BatchClient(
        endpoint=server.url, credential=AzureNamedKeyCredential(server.account, server.key)
    )


def test_an_auto_pool_jobs_keep_alive_can_be_updated(batch_client: BatchClient) -> None:
    batch_client.create_job(m.BatchJobCreateOptions(id="upd", pool_info=_auto("job")))
    pool_id = _job_pool(batch_client, "upd")
    batch_client.update_job("upd", m.BatchJobUpdateOptions(pool_info=_auto("job", keep_alive=True)))
    job = batch_client.get_job("upd")
    assert _job_pool(batch_client, "upd") == pool_id  # still on its auto pool
    assert job.pool_info.auto_pool_specification is not None
    assert job.pool_info.auto_pool_specification.keep_alive is True
    add(batch_client, "upd", "t", "true")
    assert node_of(completed(batch_client, "upd", "t")).pool_id == pool_id
    batch_client.begin_terminate_job(
        "upd", BatchJobTerminateOptions(termination_reason="done"), polling_interval=POLL
    ).result()
    assert pool_id in _pool_ids(batch_client)  # kept alive by the update
