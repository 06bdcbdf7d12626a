"""When the job schedules' thread works: only when a schedule is due (or changed), through the
real azure-batch 15.x SDK. Idle schedules cost it nothing, and every change that can bring a
run earlier (a patch, an update, an enable, a faster clock, the end of the job a run waited
for) still makes the job promptly."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions

from batchflow.emulator.http.control import ControlClient
from tests.emulator.core_helpers import POLL, make_pool, wait_for

_FAR = dt.timedelta(days=365)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _spec(**kwargs: Any) -> m.BatchJobSpecification:
    return m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id="pool"), **kwargs)


def _schedule(client: BatchClient, schedule_id: str, **when: Any) -> None:
    client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id=schedule_id,
            schedule=m.BatchJobScheduleConfiguration(**when),
            job_specification=_spec(),
        )
    )


def _jobs(client: BatchClient, schedule_id: str) -> list[str]:
    return [str(j.id) for j in client.list_jobs_from_schedule(schedule_id)]


def _thread_cpu_s(name: str) -> float:
    """CPU time (user + system) the emulator's thread ``name`` has used so far."""
    thread = next(t for t in threading.enumerate() if t.name == name)
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_schedules_cost_the_schedule_thread_nothing(batch_client: BatchClient) -> None:
    later = _now() + _FAR
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda i: _schedule(batch_client, f"idle-{i}", do_not_run_until=later), range(300)
            )
        )
    time.sleep(0.5)  # the creations' own passes are over
    before = _thread_cpu_s("batch-schedules")
    time.sleep(2.0)
    # Reading 300 schedules four times a second cost it ~0.1 s of CPU here; asleep, nothing
    # (one clock tick of slack).
    assert _thread_cpu_s("batch-schedules") - before < 0.03


def test_a_patch_moving_a_schedule_earlier_fires_it_promptly(batch_client: BatchClient) -> None:
    make_pool(batch_client, "pool", nodes=1)
    _schedule(batch_client, "soon", do_not_run_until=_now() + dt.timedelta(hours=1))
    time.sleep(0.3)  # the thread now sleeps until the hour is up
    batch_client.update_job_schedule(
        "soon",
        m.BatchJobScheduleUpdateOptions(
            schedule=m.BatchJobScheduleConfiguration(
                do_not_run_until=_now() + dt.timedelta(seconds=1)
            )
        ),
    )
    assert wait_for("the job", lambda: _jobs(batch_client, "soon"), timeout=20) == ["soon:job-1"]


def test_a_faster_clock_fires_a_waiting_schedule(batch_client: BatchClient, emulator: Any) -> None:
    make_pool(batch_client, "pool", nodes=1)
    _schedule(batch_client, "hourly", do_not_run_until=_now() + dt.timedelta(hours=1))
    time.sleep(0.3)
    ControlClient(emulator.url, emulator.account, emulator.key).set_clock_speed(3600)
    assert wait_for("the job", lambda: _jobs(batch_client, "hourly"), timeout=20) == [
        "hourly:job-1"
    ]


def test_an_enabled_schedule_makes_its_due_job(batch_client: BatchClient) -> None:
    make_pool(batch_client, "pool", nodes=1)
    _schedule(batch_client, "paused", do_not_run_until=_now() + dt.timedelta(seconds=2))
    batch_client.disable_job_schedule("paused")
    time.sleep(3)
    assert _jobs(batch_client, "paused") == []
    batch_client.enable_job_schedule("paused")
    assert wait_for("the job", lambda: _jobs(batch_client, "paused"), timeout=20) == [
        "paused:job-1"
    ]


def test_the_end_of_the_job_a_run_waited_for_makes_the_next(
    batch_client: BatchClient, emulator: Any
) -> None:
    """A run due while the previous job is active waits (within its start window) and is made
    as soon as that job ends."""
    make_pool(batch_client, "pool", nodes=1)
    ControlClient(emulator.url, emulator.account, emulator.key).set_clock_speed(600)
    _schedule(batch_client, "busy", recurrence_interval=dt.timedelta(minutes=1))
    wait_for("the first job", lambda: _jobs(batch_client, "busy"), timeout=20)
    time.sleep(0.5)  # 5 emulated minutes: the second run is due and waits for the first job
    assert _jobs(batch_client, "busy") == ["busy:job-1"]
    batch_client.begin_terminate_job(
        "busy:job-1", BatchJobTerminateOptions(termination_reason="done"), polling_interval=POLL
    ).result()
    assert "busy:job-2" in wait_for(
        "the next job",
        lambda: (lambda j: j if len(j) > 1 else None)(_jobs(batch_client, "busy")),
        timeout=20,
    )


def _next_run(client: BatchClient, schedule_id: str) -> dt.datetime | None:
    info = client.get_job_schedule(schedule_id).execution_info
    return None if info is None else info.next_run_time


def test_runs_whose_window_passes_while_the_job_is_active_are_lost_on_time(
    batch_client: BatchClient, emulator: Any
) -> None:
    make_pool(batch_client, "pool", nodes=1)
    ControlClient(emulator.url, emulator.account, emulator.key).set_clock_speed(600)
    minute = dt.timedelta(minutes=1)
    _schedule(batch_client, "windowed", recurrence_interval=minute, start_window=minute)
    wait_for("the first job", lambda: _jobs(batch_client, "windowed"), timeout=20)
    first = _next_run(batch_client, "windowed")
    assert first is not None
    # Each run waits for the active first job until its window passes, then is lost and the
    # next one is due: the schedule's next run time moves on while that job runs.
    later = wait_for(
        "a later run time",
        lambda: (lambda t: t if t is not None and t > first + minute else None)(
            _next_run(batch_client, "windowed")
        ),
        timeout=20,
    )
    assert later > first and _jobs(batch_client, "windowed") == ["windowed:job-1"]


def test_a_deadline_passing_while_the_job_is_active_completes_the_schedule_with_it(
    batch_client: BatchClient, emulator: Any
) -> None:
    make_pool(batch_client, "pool", nodes=1)
    ControlClient(emulator.url, emulator.account, emulator.key).set_clock_speed(600)
    _schedule(
        batch_client,
        "ending",
        recurrence_interval=dt.timedelta(minutes=1),
        do_not_run_after=_now() + dt.timedelta(minutes=3),
    )
    wait_for("the first job", lambda: _jobs(batch_client, "ending"), timeout=20)
    # Past doNotRunAfter: no run left, while the first job keeps the schedule active.
    wait_for("no next run", lambda: _next_run(batch_client, "ending") is None, timeout=20)
    assert batch_client.get_job_schedule("ending").state == "active"
    batch_client.begin_terminate_job(
        _jobs(batch_client, "ending")[-1],
        BatchJobTerminateOptions(termination_reason="done"),
        polling_interval=POLL,
    ).result()
    wait_for(
        "the schedule completed",
        lambda: batch_client.get_job_schedule("ending").state == "completed",
        timeout=20,
    )
