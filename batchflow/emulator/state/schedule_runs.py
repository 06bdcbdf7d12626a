"""The thread that makes the job schedules' jobs when they are due (``schedules`` holds the
operations): one pass over the active schedules at least every quarter of a second, and at once
when a schedule changes. Time is the emulator's clock (``Autoscaling.clock``), so a sped-up
clock makes an hourly schedule's jobs a second apart.
"""

from __future__ import annotations

import logging
import threading

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import JobScheduleState, Json
from batchflow.emulator.state import autopools, jobs, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.loop import Loop
from batchflow.emulator.state.schedules import (
    OVER,
    complete,
    epoch,
    finish_delete,
    finish_terminate,
    get_schedule,
    in_background,
    iso,
    update_doc,
)
from batchflow.emulator.state.store import StoreClosed

log = logging.getLogger("batchflow.emulator")
_MAX_WAIT_S = 0.25  # the loop looks again at least this often (a job ending, a speed change)


def _job_number(info: Json) -> int:
    """The number of the schedule's next job (``:job-{n}``), from its most recent one."""
    recent = str((info.get("recentJob") or {}).get("id") or "")
    _, _, number = recent.rpartition(":job-")
    return int(number) + 1 if number.isdigit() else 1


def _active_job(core: Core, info: Json) -> Json | None:
    recent = (info.get("recentJob") or {}).get("id")
    doc = rows.job_doc(core.store, recent) if recent else None
    return doc if doc is not None and doc["state"] not in OVER else None


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
                in_background(finish_terminate, self.core, schedule_id)
            elif doc is not None and doc["state"] == JobScheduleState.DELETING:
                in_background(finish_delete, self.core, schedule_id)
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
            update_doc(self.core, schedule_id, lambda d: _set_next(d, clock.epoch()))
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
        after = epoch(schedule.get("doNotRunAfter"), "schedule.doNotRunAfter")
        due = epoch(info.get("nextRunTime"), "executionInfo.nextRunTime")
        if due is not None and after is not None and max(due, now) > after:
            due = None  # no run left before the deadline
            update_doc(
                self.core, schedule_id, lambda d: d["executionInfo"].pop("nextRunTime", None)
            )
        active = _active_job(self.core, info)
        if due is None:
            if active is None:
                complete(self.core, schedule_id)
            return None
        if now < due:
            return due
        window = shapes.seconds(schedule.get("startWindow"))
        missed = window is not None and now > due + window
        if active is not None and not missed:
            return None  # made once the active job ends, if still within its window
        nxt = self._next_run(schedule, due, now)
        if missed:
            update_doc(self.core, schedule_id, lambda d: _set_next(d, nxt))
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
                log.warning("job schedule %s: no job made: %s", doc["id"], exc)
                recent = None

        def made(d: Json) -> None:
            if recent is not None:
                d["executionInfo"]["recentJob"] = recent
            _set_next(d, nxt)

        update_doc(self.core, doc["id"], made)


def _set_next(doc: Json, nxt: float | None) -> None:
    if nxt is None:
        doc["executionInfo"].pop("nextRunTime", None)
    else:
        doc["executionInfo"]["nextRunTime"] = iso(nxt)
