"""Job schedules: add, get, list, update, disable, enable, terminate, delete, and the thread
that makes their jobs on time.

A schedule makes one job at a time from its ``jobSpecification``, named as the service names
them (``{scheduleId}:job-1``, ``:job-2``, ...): first at ``doNotRunUntil`` (or at once), then
every ``recurrenceInterval``. A job is not made while the previous one is still active; a run
whose ``startWindow`` passes before it can be made is lost (the next boundary is the next
chance). Without a recurrence the schedule completes when its one job does; with one, when
``doNotRunAfter`` has passed and no job of it is active. Terminating a schedule terminates its
active job; deleting it deletes its jobs. ``executionInfo.nextRunTime`` and the schedule's
times run on the emulator's clock (``Autoscaling.clock``), which the control surface speeds up,
so an hourly schedule runs in seconds in a test. The thread that makes the jobs when due is
``schedule_runs.JobSchedules``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable

import isodate

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import JobScheduleState, JobState, Json
from batchflow.emulator.state import autopools, job_quota, jobs, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import compile_filter
from batchflow.emulator.state.store import Page, StoreClosed
from batchflow.emulator.state.write_only import without_protected_settings

log = logging.getLogger("batchflow.emulator")
FIELDS = {"id": "id", "state": "state"}
MIN_INTERVAL_S = 60.0  # the service's minimum for recurrenceInterval and startWindow
_SETTLE_S = 60.0  # how long a terminate or delete waits for the schedule's jobs to go
OVER = (JobState.COMPLETED, JobState.DELETING)
_UPDATABLE = ("schedule", "jobSpecification", "metadata")


# --- times ---------------------------------------------------------------------------------
def epoch(text: object, name: str) -> float | None:
    """An ISO 8601 date-time of the request in epoch seconds; 400 naming it if unreadable."""
    if text is None:
        return None
    try:
        value = isodate.parse_datetime(str(text))
    except (ValueError, isodate.ISO8601Error):
        raise errors.invalid_property_value(name, text, "Expected an ISO 8601 date-time.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return float(value.timestamp())


def iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_schedule(schedule: Json) -> None:
    """The schedule's times readable, its intervals at least a minute (as the service)."""
    epoch(schedule.get("doNotRunUntil"), "schedule.doNotRunUntil")
    epoch(schedule.get("doNotRunAfter"), "schedule.doNotRunAfter")
    for key in ("recurrenceInterval", "startWindow"):
        seconds = shapes.seconds(schedule.get(key))
        if schedule.get(key) is not None and (seconds is None or seconds < MIN_INTERVAL_S):
            # shapes.seconds reads more than 10 years as unlimited: too long, not too short.
            why = "The minimum value is 1 minute."
            if seconds is None:
                why = "The maximum value is 10 years."
            raise errors.invalid_property_value(f"schedule.{key}", schedule[key], why)


def _first_run(core: Core, schedule: Json) -> str:
    """When the first job is due: doNotRunUntil (its startWindow counts from then, even if
    that is past), or now."""
    until = epoch(schedule.get("doNotRunUntil"), "schedule.doNotRunUntil")
    return iso(core.autoscaling.clock.epoch() if until is None else until)


# --- the operations ------------------------------------------------------------------------
def create_schedule(core: Core, body: Json) -> Json:
    body = without_protected_settings(body)
    schedule = body.get("schedule") or {}
    _check_schedule(schedule)
    autopools.check_pool_info(body["jobSpecification"].get("poolInfo"))
    doc: Json = {**body, "schedule": schedule}
    shapes.set_state(doc, JobScheduleState.ACTIVE)
    shapes.stamp(doc, created=True)
    doc["executionInfo"] = {"nextRunTime": _first_run(core, schedule)}
    with job_quota.room(core):
        rows.insert_schedule(core.store, doc)
    core.schedules.wake(doc["id"])
    return doc


def get_schedule(core: Core, schedule_id: str) -> Json:
    doc = rows.schedule_doc(core.store, schedule_id)
    if doc is None:
        raise errors.job_schedule_not_found(schedule_id)
    return doc


def with_stats(core: Core, doc: Json, url: str) -> Json:
    """The schedule with ``stats`` (``$expand=stats``): its jobs' task outcomes; the times
    and I/O figures the service measures on its VMs are zero locally."""
    counts = rows.schedule_task_stats(core.store, doc["id"])
    zero = "PT0S"
    stats = {
        "url": url,
        "startTime": doc["creationTime"],
        "lastUpdateTime": shapes.now(),
        "userCPUTime": zero,
        "kernelCPUTime": zero,
        "wallClockTime": zero,
        "readIOps": "0",
        "writeIOps": "0",
        "readIOGiB": 0.0,
        "writeIOGiB": 0.0,
        "numSucceededTasks": str(counts.succeeded),
        "numFailedTasks": str(counts.failed),
        "numTaskRetries": str(counts.retries),
        "waitTime": zero,
    }
    return {**doc, "stats": stats}


def public(doc: Json) -> Json:
    """The schedule as the wire shows it (without what the emulator keeps for itself)."""
    return {k: v for k, v in doc.items() if k != autopools.SCHEDULE_POOL_KEY}


def list_schedules(core: Core, filter: str | None, token: str | None, limit: int) -> Page:
    where, params = compile_filter(filter, FIELDS)
    return rows.schedules_page(core.store, where, params, token, limit)


def list_schedule_jobs(
    core: Core, schedule_id: str, filter: str | None, token: str | None, limit: int
) -> Page:
    """The jobs the schedule made that still exist."""
    doc = get_schedule(core, schedule_id)
    where, params = compile_filter(filter, jobs.FIELDS)
    return rows.schedule_jobs_page(core.store, doc["id"], where, params, token, limit)


def _check_changeable(doc: Json) -> None:
    """409 unless the schedule is active or disabled."""
    state = doc["state"]
    if state == JobScheduleState.COMPLETED:
        raise errors.job_schedule_completed(doc["id"])
    if state == JobScheduleState.DELETING:
        raise errors.job_schedule_being_deleted(doc["id"])
    if state == JobScheduleState.TERMINATING:
        raise errors.job_schedule_being_terminated(doc["id"])


def update_schedule(core: Core, schedule_id: str, body: Json, replace: bool) -> Json:
    """PATCH (what the body gives replaces the same property) or PUT (what it does not give
    is cleared). A new schedule is due again from now (or its doNotRunUntil); jobs already
    made keep the specification they were made with."""
    body = without_protected_settings(body)
    if "schedule" in body:
        _check_schedule(body["schedule"])
    if "jobSpecification" in body:
        autopools.check_pool_info(body["jobSpecification"].get("poolInfo"))

    def change(doc: Json) -> None:
        if replace:
            doc["schedule"] = {}
            doc["metadata"] = []
        doc.update(
            {k: v for k, v in body.items() if k in ("schedule", "jobSpecification", "metadata")}
        )
        if "schedule" in body:
            info = doc["executionInfo"]
            recurring = bool(doc["schedule"].get("recurrenceInterval"))
            if recurring or "recentJob" not in info:
                info["nextRunTime"] = _first_run(core, doc["schedule"])
            else:
                info.pop("nextRunTime", None)

    with core.schedules.busy:
        _check_changeable(get_schedule(core, schedule_id))
        doc = update_doc(core, schedule_id, change)
    core.schedules.wake(schedule_id)
    return doc


def disable_schedule(core: Core, schedule_id: str) -> None:
    """No job is made while disabled (an active job runs on)."""
    _set_enabled(core, schedule_id, JobScheduleState.DISABLED)


def enable_schedule(core: Core, schedule_id: str) -> None:
    _set_enabled(core, schedule_id, JobScheduleState.ACTIVE)


def _set_enabled(core: Core, schedule_id: str, state: JobScheduleState) -> None:
    with core.schedules.busy:
        doc = get_schedule(core, schedule_id)
        _check_changeable(doc)
        if doc["state"] != state:
            update_doc(core, schedule_id, lambda d: shapes.set_state(d, state))
    core.schedules.wake(schedule_id)  # due again, or no longer


def terminate_schedule(core: Core, schedule_id: str) -> None:
    """Terminating, then completed once its active job has been terminated."""
    with core.schedules.busy:
        doc = get_schedule(core, schedule_id)
        _check_changeable(doc)
        update_doc(core, schedule_id, lambda d: shapes.set_state(d, JobScheduleState.TERMINATING))
    core.schedules.wake(schedule_id)  # no longer due
    in_background(finish_terminate, core, doc["id"])


def delete_schedule(core: Core, schedule_id: str) -> None:
    """Deleting, then gone with every job it made (and its auto pool)."""
    with core.schedules.busy:
        doc = get_schedule(core, schedule_id)
        if doc["state"] == JobScheduleState.DELETING:
            raise errors.job_schedule_being_deleted(schedule_id)
        update_doc(core, schedule_id, lambda d: shapes.set_state(d, JobScheduleState.DELETING))
    core.schedules.wake(schedule_id)  # no longer due
    in_background(finish_delete, core, doc["id"])


def finish_terminate(core: Core, schedule_id: str) -> None:
    """Terminate the schedule's active jobs, wait for them, complete the schedule."""
    for job_id in rows.schedule_job_ids(core.store, schedule_id):
        jobs.terminate(core, job_id, "UserTerminate")
    _wait_jobs(core, schedule_id, lambda doc: doc["state"] in OVER)
    complete(core, schedule_id)


def finish_delete(core: Core, schedule_id: str) -> None:
    """Delete the schedule's jobs, wait until they are gone, forget the schedule."""
    for job_id in rows.schedule_job_ids(core.store, schedule_id):
        try:
            jobs.delete_job(core, job_id)
        except errors.BatchServiceError:  # already being deleted, or gone meanwhile
            continue
    _wait_jobs(core, schedule_id, lambda doc: False)
    doc = get_schedule(core, schedule_id)
    rows.delete_schedule(core.store, schedule_id)
    autopools.schedule_ended(core, doc)


def _wait_jobs(core: Core, schedule_id: str, settled: Callable[[Json], bool]) -> None:
    """Until every job of the schedule still stored is ``settled`` (or _SETTLE_S pass)."""
    deadline = time.monotonic() + _SETTLE_S
    while time.monotonic() < deadline and not core.closing:
        docs = [rows.job_doc(core.store, j) for j in rows.schedule_job_ids(core.store, schedule_id)]
        if all(d is None or settled(d) for d in docs):
            return
        time.sleep(0.02)


def complete(core: Core, schedule_id: str) -> None:
    def done(doc: Json) -> None:
        shapes.set_state(doc, JobScheduleState.COMPLETED)
        doc["executionInfo"].pop("nextRunTime", None)
        doc["executionInfo"]["endTime"] = shapes.now()

    if not core.closing:
        autopools.schedule_ended(core, update_doc(core, schedule_id, done))


def update_doc(core: Core, schedule_id: str, change: Callable[[Json], object]) -> Json:
    try:
        return rows.update_schedule(core.store, schedule_id, change)
    except errors.BatchServiceError as exc:
        if exc.status == 404:
            raise errors.job_schedule_not_found(schedule_id) from None
        raise


def in_background(work: Callable[[Core, str], None], core: Core, schedule_id: str) -> None:
    """A termination or deletion finished on its own thread; a stop of the service meanwhile
    is not an error (the next start finishes it), nor the schedule vanishing."""

    def run() -> None:
        try:
            work(core, schedule_id)
        except StoreClosed:
            return
        except errors.BatchServiceError as exc:
            if exc.status != 404:
                log.warning("job schedule %s: %s: %s", schedule_id, work.__name__, exc)

    threading.Thread(target=run, daemon=True, name=f"{work.__name__}-{schedule_id}").start()
