"""The run recorder's listings, through the real SDK against the emulator: each sweep lists
only the tasks completed since the last one saw (by the service's times), and the record
still holds every task exactly once."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchflow.azure.batch import AzureBatchService
from batchflow.azure.connect import batch_service
from batchflow.engine import recorder as recorder_module
from batchflow.engine.events import Event
from batchflow.engine.protocols import TaskInfo
from batchflow.engine.recorder import COMPLETED, Recorder
from batchflow.engine.records import RECORD, RecordWriter
from batchflow.engine.run import RunOptions, run_plan
from batchflow.errors import BackendError
from batchflow.local.blobs import LocalBlobStore
from tests.engine.planning import make_plan, shell_task

SINCE = re.compile(r"stateTransitionTime ge DateTime'([^']+)'")


@pytest.fixture()
def batch(emulator: Any) -> Iterator[AzureBatchService]:
    service = batch_service(emulator.url, emulator.account, emulator.key, fast=True)
    yield service
    service.close()


class _Listings:
    """The adapter, noting what each listing of completed tasks asked and got."""

    def __init__(self, inner: AzureBatchService) -> None:
        self.inner = inner
        self.completed: list[tuple[str, list[TaskInfo]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_tasks(self, job_id: str, filter: str | None = None) -> list[TaskInfo]:
        infos = self.inner.list_tasks(job_id, filter)
        if filter and filter.startswith(COMPLETED):
            self.completed.append((filter, infos))
        return infos


def _record_lines(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / RECORD).read_text(encoding="utf-8").splitlines()
    return [v for v in map(json.loads, lines) if v["kind"] == "task"]


def test_each_sweep_lists_only_what_completed_since_the_last(
    tmp_path: Path, batch: AzureBatchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The final sweep lists by time too (not by the ids left, as it does when few are left
    # of a plan without dynamic steps), and no margin: the counts show what the filter does.
    monkeypatch.setattr(recorder_module, "FEW_LEFT", 0)
    # A sweep at every poll of the watch (not throttled by its cost).
    monkeypatch.setattr(recorder_module, "COST_FACTOR", 0.0)
    monkeypatch.setattr(recorder_module, "MIN_GAP_S", 0.0)
    n = 120
    tasks = [shell_task(f"t{i:03d}", "sleep 0.1") for i in range(n)]
    plan = make_plan(tmp_path, tasks, nodes=2, slots=2)
    listings = _Listings(batch)
    writer = RecordWriter(tmp_path / "run")
    rec = Recorder(writer, plan, listings, margin=dt.timedelta(0))  # type: ignore[arg-type]
    seen: list[Event] = []
    res = run_plan(plan, listings, LocalBlobStore(tmp_path / "b"), rec.wrap(seen.append))  # type: ignore[arg-type]
    writer.close()
    assert res.succeeded

    # every task in the record, exactly once
    ids = [line["id"] for line in _record_lines(tmp_path / "run")]
    assert sorted(ids) == [t.id for t in tasks]

    sweeps = listings.completed
    assert len(sweeps) >= 10, [f for f, _ in sweeps]  # sweeps during the watch, and the last
    newest: dt.datetime | None = None
    for filter, infos in sweeps:
        since = SINCE.search(filter)
        if newest is None:
            assert since is None  # nothing seen yet: all completed tasks
        else:
            # from the service's times: never after the newest completion listed before
            assert since is not None, filter
            when = dt.datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
            assert when <= newest
        stamps = [i.state_time for i in infos if i.state_time is not None]
        assert len(stamps) == len(infos)  # the adapter reads the service's time of each
        newest = max([*stamps, *([newest] if newest else [])], default=newest)
    # Listing every completed task at each sweep read ~n/2 per sweep (over 5n for 10 sweeps);
    # now each task once, and a few again each sweep (those completed while the last listing
    # ran, and the newest: ``ge``).
    listed = sum(len(infos) for _, infos in sweeps)
    assert listed < 4 * n, str([len(infos) for _, infos in sweeps])
    last = sweeps[-1][1]
    assert len(last) < n // 2, len(last)  # the final sweep: only what the watch left


def test_a_task_completed_again_after_reactivation_keeps_its_first_record(
    tmp_path: Path, batch: AzureBatchService
) -> None:
    # As when every sweep listed all completed tasks: the first completion recorded stands,
    # though the second one is newer than anything recorded (so listed again).
    flag = tmp_path / "again"  # not in the task's directory: the next attempt may be elsewhere
    tasks = [
        shell_task("ok", "true"),
        shell_task("flaky", f"test -f {flag} || {{ touch {flag}; exit 1; }}"),
    ]
    plan = make_plan(tmp_path, tasks)
    listings = _Listings(batch)
    writer = RecordWriter(tmp_path / "run")
    rec = Recorder(writer, plan, listings)  # type: ignore[arg-type]
    opts = RunOptions(keep=True)
    res = run_plan(plan, listings, LocalBlobStore(tmp_path / "b"), rec.wrap(lambda e: None), opts)  # type: ignore[arg-type]
    assert not res.succeeded
    rec.sweep(final=False)  # (the final sweep of so few tasks lists them by id)
    assert rec.since is not None  # from now on, sweeps list by the service's times

    client = batch._client
    client.reactivate_task(plan.job.id, "flaky")
    wait_until = time.monotonic() + 60
    while (task := client.get_task(plan.job.id, "flaky")).state != "completed":
        assert time.monotonic() < wait_until, f"the reactivated task is {task.state}"
        time.sleep(0.05)
    assert task.execution_info.result == "success"
    rec.sweep(final=False)
    filter, infos = listings.completed[-1]  # the sweep after the second completion
    rec.sweep(final=True)
    writer.close()

    assert SINCE.search(filter), filter
    assert [i.result for i in infos if i.id == "flaky"] == ["success"]  # by its new time
    lines = _record_lines(tmp_path / "run")
    assert sorted(line["id"] for line in lines) == ["flaky", "ok"]
    assert next(line for line in lines if line["id"] == "flaky")["result"] == "failure"


class _NoTimeFilter(_Listings):
    """A service that refuses ``stateTransitionTime`` in a filter (as an older one might)."""

    def list_tasks(self, job_id: str, filter: str | None = None) -> list[TaskInfo]:
        if filter and "stateTransitionTime" in filter:
            self.completed.append((filter, []))
            raise BackendError("InvalidQueryParameterValue: stateTransitionTime")
        return super().list_tasks(job_id, filter)


def test_a_service_refusing_the_time_filter_still_gets_every_task_recorded(
    tmp_path: Path, batch: AzureBatchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "FEW_LEFT", 0)
    monkeypatch.setattr(recorder_module, "COST_FACTOR", 0.0)
    monkeypatch.setattr(recorder_module, "MIN_GAP_S", 0.0)
    n = 40
    plan = make_plan(tmp_path, [shell_task(f"t{i:03d}", "sleep 0.1") for i in range(n)])
    listings = _NoTimeFilter(batch)
    writer = RecordWriter(tmp_path / "run")
    rec = Recorder(writer, plan, listings)  # type: ignore[arg-type]
    res = run_plan(plan, listings, LocalBlobStore(tmp_path / "b"), rec.wrap(lambda e: None))  # type: ignore[arg-type]
    writer.close()
    assert res.succeeded
    ids = [r["id"] for r in _record_lines(tmp_path / "run")]
    assert sorted(ids) == [f"t{i:03d}" for i in range(n)]
    refused = [f for f, _ in listings.completed if "stateTransitionTime" in f]
    assert len(refused) == 1, "tried once, then every listing is of all completed tasks"
