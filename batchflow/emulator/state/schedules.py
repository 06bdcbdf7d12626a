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
so an hourly schedule runs in seconds in a test.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Callable

import isodate

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import JobScheduleState, JobState, Json
from batchflow.emulator.state import autopools, jobs, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import compile_filter
from batchflow.emulator.state.loop import Loop
from batchflow.emulator.state.store import Page, StoreClosed

FIELDS = {"id": "id", "state": "state"}
MIN_INTERVAL_S = 60.0  # the service's minimum for recurrenceInterval and startWindow
_MAX_WAIT_S = 0.25  # the loop looks again at least this often (a job ending, a speed change)
_SETTLE_S = 60.0  # how long a terminate or delete waits for the schedule's jobs to go
_OVER = (JobState.COMPLETED, JobState.DELETING)
_UPDATABLE = ("schedule", "jobSpecification", "metadata")


# --- times ---------------------------------------------------------------------------------
def _epoch(text: object, name: str) -> float | None:
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


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_schedule(schedule: Json) -> None:
    """The schedule's times readable, its intervals at least a minute (as the service)."""
    _epoch(schedule.get("doNotRunUntil"), "schedule.doNotRunUntil")
    _epoch(schedule.get("doNotRunAfter"), "schedule.doNotRunAfter")
    for key in ("recurrenceInterval", "startWindow"):
        seconds = shapes.seconds(schedule.get(key))
        if schedule.get(key) is not None and (seconds is None or seconds < MIN_INTERVAL_S):
            raise errors.invalid_property_value(
                f"schedule.{key}", schedule[key], "The minimum value is 1 minute."
            )


def _first_run(core: Core, schedule: Json) -> str:
    """When the first job is due: doNotRunUntil (its startWindow counts from then, even if
    that is past), or now."""
    until = _epoch(schedule.get("doNotRunUntil"), "schedule.doNotRunUntil")
    return _iso(core.autoscaling.clock.epoch() if until is None else until)


# --- the operations ------------------------------------------------------------------------
def create_schedule(core: Core, body: Json) -> Json:
    schedule = body.get("schedule") or {}
    _check_schedule(schedule)
    autopools.check_pool_info(body["jobSpecification"].get("poolInfo"))
    doc: Json = {**body, "schedule": schedule}
    shapes.set_state(doc, JobScheduleState.ACTIVE)
    shapes.stamp(doc, created=True)
    doc["executionInfo"] = {"nextRunTime": _first_run(core, schedule)}
    rows.insert_schedule(core.store, doc)
    core.schedules.wake()
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
        doc = _update(core, schedule_id, change)
    core.schedules.wake()
    return doc


def disable_schedule(core: Core, schedule_id: str) -> None:
    """No job is made while disabled (an active job runs on)."""
    _set_enabled(core, schedule_id, JobScheduleState.DISABLED)


def enable_schedule(core: Core, schedule_id: str) -> None:
    _set_enabled(core, schedule_id, JobScheduleState.ACTIVE)
    core.schedules.wake()


def _set_enabled(core: Core, schedule_id: str, state: JobScheduleState) -> None:
    with core.schedules.busy:
        doc = get_schedule(core, schedule_id)
        _check_changeable(doc)
        if doc["state"] != state:
            _update(core, schedule_id, lambda d: shapes.set_state(d, state))


def terminate_schedule(core: Core, schedule_id: str) -> None:
    """Terminating, then completed once its active job has been terminated."""
    with core.schedules.busy:
        doc = get_schedule(core, schedule_id)
        _check_changeable(doc)
        _update(core, schedule_id, lambda d: shapes.set_state(d, JobScheduleState.TERMINATING))
    _in_background(finish_terminate, core, doc["id"])


def delete_schedule(core: Core, schedule_id: str) -> None:
    """Deleting, then gone with every job it made (and its auto pool)."""
    with core.schedules.busy:
        doc = get_schedule(core, schedule_id)
        if doc["state"] == JobScheduleState.DELETING:
            raise errors.job_schedule_being_deleted(schedule_id)
        _update(core, schedule_id, lambda d: shapes.set_state(d, JobScheduleState.DELETING))
    _in_background(finish_delete, core, doc["id"])


def finish_terminate(core: Core, schedule_id: str) -> None:
    """Terminate the schedule's active jobs, wait for them, complete the schedule."""
    for job_id in rows.schedule_job_ids(core.store, schedule_id):
        jobs.terminate(core, job_id, "UserTerminate")
    _wait_jobs(core, schedule_id, lambda doc: doc["state"] in _OVER)
    _complete(core, schedule_id)


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


def _complete(core: Core, schedule_id: str) -> None:
    def done(doc: Json) -> None:
        shapes.set_state(doc, JobScheduleState.COMPLETED)
        doc["executionInfo"].pop("nextRunTime", None)
        doc["executionInfo"]["endTime"] = shapes.now()

    if not core.closing:
        autopools.schedule_ended(core, _update(core, schedule_id, done))


def _update(core: Core, schedule_id: str, change: Callable[[Json], object]) -> Json:
    try:
        return rows.update_schedule(core.store, schedule_id, change)
    except errors.BatchServiceError as exc:
        if exc.status == 404:
            raise errors.job_schedule_not_found(schedule_id) from None
        raise


def _in_background(work: Callable[[Core, str], None], core: Core, schedule_id: str) -> None:
    """A termination or deletion finished on its own thread; a stop of the service meanwhile
    is not an error (the next start finishes it), nor the schedule vanishing."""

    def run() -> None:
        try:
            work(core, schedule_id)
        except StoreClosed:
            return
        except errors.BatchServiceError as exc:
            if exc.status != 404:
                jobs.log.warning("job schedule %s: %s: %s", schedule_id, work.__name__, exc)

    threading.Thread(target=run, daemon=True, name=f"{work.__name__}-{schedule_id}").start()


# --- making the jobs on time ---------------------------------------------------------------
def _job_number(info: Json) -> int:
    """The number of the schedule's next job (``:job-{n}``), from its most recent one."""
    recent = str((info.get("recentJob") or {}).get("id") or "")
    _, _, number = recent.rpartition(":job-")
    return int(number) + 1 if number.isdigit() else 1


def _active_job(core: Core, info: Json) -> Json | None:
    recent = (info.get("recentJob") or {}).get("id")
    doc = rows.job_doc(core.store, recent) if recent else None
    return doc if doc is not None and doc["state"] not in _OVER else None


class JobSchedules:
    """The thread that makes the schedules' jobs when due and completes ended schedules."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._cond = threading.Condition()
        # One pass over a schedule at a time, and no user change of a schedule during one
        # (a job made for a schedule disabled meanwhile): the thread, the control's "run now"
        # and the operations above. Taken before ``core.lock``, never inside it.
        self.busy = threading.RLock()
        self._loop = Loop("batch-schedules", self._cond, self._body, core.thread_died)

    def start(self) -> None:
        """Finish the terminations and deletions a stop cut short, then start the thread."""
        for schedule_id in rows.schedule_ids(self.core.store):
            doc = rows.schedule_doc(self.core.store, schedule_id)
            if doc is not None and doc["state"] == JobScheduleState.TERMINATING:
                _in_background(finish_terminate, self.core, schedule_id)
            elif doc is not None and doc["state"] == JobScheduleState.DELETING:
                _in_background(finish_delete, self.core, schedule_id)
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def run_now(self, schedule_id: str) -> Json:
        """The control's "run now": an active schedule's next job is due at once."""
        doc = get_schedule(self.core, schedule_id)
        if doc["state"] != JobScheduleState.ACTIVE:
            raise errors.invalid_operation("Only an active job schedule can be run now.")
        with self.busy:
            clock = self.core.autoscaling.clock
            _update(self.core, schedule_id, lambda d: _set_next(d, clock.epoch()))
            self._advance(schedule_id, clock.epoch())  # later: at or after the due time
        return get_schedule(self.core, schedule_id)

    def _body(self) -> None:
        try:
            while not self._loop.stopped:
                due = self._tick()
                with self._cond:
                    if self._loop.stopped:
                        return
                    ahead = self.core.autoscaling.clock.real_seconds(
                        due - self.core.autoscaling.clock.epoch()
                    )
                    self._cond.wait(max(0.005, min(_MAX_WAIT_S, ahead)))
        except StoreClosed:
            return

    def _tick(self) -> float:
        """One pass over every schedule; the earliest emulated time one is due next."""
        soonest = float("inf")
        for schedule_id in rows.schedule_ids(self.core.store, JobScheduleState.ACTIVE):
            with self.busy:
                try:
                    due = self._advance(schedule_id, self.core.autoscaling.clock.epoch())
                except errors.BatchServiceError:  # deleted meanwhile
                    continue
            if due is not None:
                soonest = min(soonest, due)
        return soonest

    def _advance(self, schedule_id: str, now: float) -> float | None:
        """Make the schedule's due job, or complete it; when it is next due (None: not)."""
        doc = rows.schedule_doc(self.core.store, schedule_id)
        if doc is None or doc["state"] != JobScheduleState.ACTIVE:
            return None
        schedule, info = doc["schedule"], doc["executionInfo"]
        after = _epoch(schedule.get("doNotRunAfter"), "schedule.doNotRunAfter")
        due = _epoch(info.get("nextRunTime"), "executionInfo.nextRunTime")
        if due is not None and after is not None and max(due, now) > after:
            due = None  # no run left before the deadline
            _update(self.core, schedule_id, lambda d: d["executionInfo"].pop("nextRunTime", None))
        active = _active_job(self.core, info)
        if due is None:
            if active is None:
                _complete(self.core, schedule_id)
            return None
        if now < due:
            return due
        window = shapes.seconds(schedule.get("startWindow"))
        missed = window is not None and now > due + window
        if active is not None and not missed:
            return None  # made once the active job ends, if still within its window
        nxt = self._next_run(schedule, due, now)
        if missed:
            _update(self.core, schedule_id, lambda d: _set_next(d, nxt))
            return nxt
        self._make_job(doc, nxt)
        return nxt

    @staticmethod
    def _next_run(schedule: Json, due: float, now: float) -> float | None:
        """The first recurrence boundary after ``now`` (runs missed meanwhile are lost)."""
        interval = shapes.seconds(schedule.get("recurrenceInterval"))
        if not interval:
            return None
        return due + interval * (int((now - due) // interval) + 1)

    def _make_job(self, doc: Json, nxt: float | None) -> None:
        info = doc["executionInfo"]
        job_id = f"{doc['id']}:job-{_job_number(info)}"
        recent: Json | None = {"id": job_id, "url": f"{self.core.account_url}/jobs/{job_id}"}
        try:
            spec, pool_id = autopools.for_schedule_job(self.core, doc)
            jobs.create_job(self.core, {**spec, "id": job_id}, pool_id)
        except errors.BatchServiceError as exc:
            # JobExists: made before a stop cut short recording it here; it is this run's job.
            # Anything else (its auto pool refused: a quota) loses this run, said in the log
            # once rather than tried again on every pass.
            if exc.code != "JobExists":
                jobs.log.warning("job schedule %s: no job made: %s", doc["id"], exc)
                recent = None

        def made(d: Json) -> None:
            if recent is not None:
                d["executionInfo"]["recentJob"] = recent
            _set_next(d, nxt)

        _update(self.core, doc["id"], made)


def _set_next(doc: Json, nxt: float | None) -> None:
    if nxt is None:
        doc["executionInfo"].pop("nextRunTime", None)
    else:
        doc["executionInfo"]["nextRunTime"] = _iso(nxt)
