"""The account's active jobs and job schedules quota through the real azure-batch 15.x SDK: an
add past it is refused 409 ActiveJobAndScheduleQuotaReached, as the service refuses it;
completed jobs and schedules do not count."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from batchflow.commands.emulator import quotas_from_flags
from batchflow.emulator.http.control import ControlClient
from batchflow.emulator.server import EmulatorServer
from tests.emulator.core_helpers import POLL, wait_for

QUOTA = ("ActiveJobAndScheduleQuotaReached", 409)


def _refused(fn: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(HttpResponseError) as info:
        fn()
    return str(info.value.error.code), int(info.value.status_code or 0)


def _job(client: BatchClient, job_id: str) -> None:
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="pool")))


def _schedule(client: BatchClient, schedule_id: str) -> None:
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
    client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id=schedule_id,
            schedule=m.BatchJobScheduleConfiguration(do_not_run_until=later),
            job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id="pool")),
        )
    )


@pytest.fixture()
def small_account(tmp_path: Path) -> Iterator[EmulatorServer]:
    """An emulator whose account may have three jobs and schedules not completed."""
    quotas = quotas_from_flags("default", (), None, active_jobs=3)
    server = EmulatorServer(data_dir=tmp_path / "emulator", nodes_max=1, quotas=quotas)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_jobs_and_schedules_past_the_quota_are_refused(small_account: EmulatorServer) -> None:
    client = BatchClient(
        small_account.url, AzureNamedKeyCredential(small_account.account, small_account.key)
    )
    _job(client, "a")
    _job(client, "b")
    _schedule(client, "s")
    assert _refused(lambda: _job(client, "c")) == QUOTA
    assert _refused(lambda: _schedule(client, "t")) == QUOTA
    assert {str(j.id) for j in client.list_jobs()} == {"a", "b"}

    # A completed job or schedule holds no place.
    client.begin_terminate_job(
        "a", BatchJobTerminateOptions(termination_reason="done"), polling_interval=POLL
    ).result()
    _job(client, "c")
    assert _refused(lambda: _job(client, "d")) == QUOTA
    client.begin_terminate_job_schedule("s", polling_interval=POLL).result()
    _schedule(client, "t")

    # Raised on the control surface: room again at once.
    control = ControlClient(small_account.url, small_account.account, small_account.key)
    assert control.set_quotas(active_jobs=4)["activeJobAndJobScheduleQuota"] == 4
    _job(client, "d")
    assert _refused(lambda: _job(client, "e")) == QUOTA


def test_a_schedule_makes_no_job_past_the_quota(small_account: EmulatorServer) -> None:
    client = BatchClient(
        small_account.url, AzureNamedKeyCredential(small_account.account, small_account.key)
    )
    _job(client, "a")
    _job(client, "b")
    client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id="now",
            schedule=m.BatchJobScheduleConfiguration(),
            job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id="pool")),
        )
    )
    # Its one run is lost (said in the log) and, with no recurrence, the schedule completes.
    wait_for("the schedule completed", lambda: client.get_job_schedule("now").state == "completed")
    assert list(client.list_jobs_from_schedule("now")) == []


def test_the_quota_by_default_and_on_a_new_account() -> None:
    assert quotas_from_flags("default", (), None).to_json()["activeJobAndJobScheduleQuota"] >= 1000
    new = quotas_from_flags("new-account", (), None).to_json()
    assert new["activeJobAndJobScheduleQuota"] == 300
