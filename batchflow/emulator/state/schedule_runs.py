"""The thread that makes the job schedules' jobs when they are due (``schedules`` holds the
operations). It sleeps until the earliest time a schedule needs it (a run due, a start window or
``doNotRunAfter`` passing while a run waits for the active job) and is woken by what changes
that: a schedule added, updated, enabled, disabled, terminated or deleted, the end of a
schedule's job, a change of the clock's speed. Idle schedules cost nothing: an emulator holding
2,000 of them, each read four times a second, used a fifth of a core doing so. Time is the
emulator's clock (``Autoscaling.clock``), so a sped-up clock makes an hourly schedule's jobs a
second apart.
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
# Nothing is due for longer than this: the wait is cut to it (Condition.wait takes no more than
# threading.TIMEOUT_MAX, and a year ahead at speed 1 is far beyond any test or run).
_MAX_SLEEP_S = 3600.0
_MIN_SLEEP_S = 0.005  # a due time just missed by the clock's last reading: look again soon


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
        # Guarded by ``_cond``, keyed by the lower-case id (ids are case-insensitive): when
        # each schedule must next be looked at (emulated epoch seconds), and the schedules
        # changed since the last pass. A schedule in neither needs nothing until a change
        # (disabled, over, or a run waiting only for its active job to end).
        self._due: dict[str, float] = {}
        self._changed: set[str] = set()
        self._rescan = True  # look at every active schedule on the next pass (at start)
        self._loop = Loop("batch-schedules", self._cond, self._body, core.thread_died)
        core.autoscaling.clock.on_speed(self.wake)

    def start(self) -> None:
        """Finish the terminations and deletions a stop cut short, then start the thread."""
        for schedule_id in rows.schedule_ids(self.core.store):
            doc = rows.schedule_doc(self.core.store, schedule_id)
            if doc is not None and doc["state"] == JobScheduleState.TERMINATING:
                in_background(finish_terminate, self.core, schedule_id)
            elif doc is not None and doc["state"] == JobScheduleState.DELETING:
                in_background(finish_delete, self.core, schedule_id)
        with self._cond:
            self._rescan = True
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def wake(self, schedule_id: str | None = None) -> None:
        """Look at ``schedule_id`` at once (it changed); without one, only work out the wait
        again (the clock's speed changed)."""
        with self._cond:
            if schedule_id is not None:
                self._changed.add(schedule_id.lower())
            self._cond.notify_all()

    def job_ended(self, job_id: str) -> None:
        """A job completed or is being deleted: if a schedule made it, a run of the schedule
        may have been waiting for it (or the schedule completes)."""
        schedule_id, made, number = job_id.rpartition(":job-")
        if made and number.isdigit():
            self.wake(schedule_id)

    def run_now(self, schedule_id: str) -> Json:
        """The control's "run now": an active schedule's next job is due at once."""
        doc = get_schedule(self.core, schedule_id)
        if doc["state"] != JobScheduleState.ACTIVE:
            raise errors.invalid_operation("Only an active job schedule can be run now.")
        with self.busy:
            clock = self.core.autoscaling.clock
            update_doc(self.core, schedule_id, lambda d: _set_next(d, clock.epoch()))
            self._advance(schedule_id, clock.epoch())  # later: at or after the due time
        self.wake(schedule_id)  # its next run may be sooner than the one the thread waits for
        return get_schedule(self.core, schedule_id)

    def _body(self) -> None:
        try:
            while not self._loop.stopped:
                self._pass()
                with self._cond:
                    if self._loop.stopped:
                        return
                    if not self._changed and not self._rescan:
                        self._cond.wait(self._sleep())
        except StoreClosed:
            return

    def _sleep(self) -> float:
        """Real seconds until the earliest schedule is due (``_cond`` held)."""
        if not self._due:
            return _MAX_SLEEP_S
        clock = self.core.autoscaling.clock
        ahead = clock.real_seconds(min(self._due.values()) - clock.epoch())
        return max(_MIN_SLEEP_S, min(_MAX_SLEEP_S, ahead))

    def _pass(self) -> None:
        """Look at the schedules changed or due, and note when each is next due."""
        clock = self.core.autoscaling.clock
        with self._cond:
            now = clock.epoch()
            look = self._changed | {key for key, due in self._due.items() if due <= now}
            self._changed = set()
            rescan, self._rescan = self._rescan, False
        if rescan:
            active = rows.schedule_ids(self.core.store, JobScheduleState.ACTIVE)
            look |= {schedule_id.lower() for schedule_id in active}
        for key in look:
            with self.busy:
                try:
                    due = self._advance(key, clock.epoch())
                except errors.BatchServiceError:  # deleted meanwhile
                    due = None
            with self._cond:
                if due is None:
                    self._due.pop(key, None)
                else:
                    self._due[key] = due

    def _advance(self, schedule_id: str, now: float) -> float | None:
        """Make the schedule's due job, or complete it; when to look at it next (None: only
        when it changes or a job of it ends)."""
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
            # Made once the active job ends (``job_ended``), if still within its window; the
            # window or doNotRunAfter passing meanwhile loses the run.
            ends = (None if window is None else due + window, after)
            return min((end for end in ends if end is not None), default=None)
        nxt = self._next_run(schedule, due, now)
        if missed:
            update_doc(self.core, schedule_id, lambda d: _set_next(d, nxt))
        else:
            self._make_job(doc, nxt)
        # No run left: the schedule completes now if it has no active job (a missed run, a
        # job refused), else when that job ends.
        return nxt if nxt is not None else self._advance(schedule_id, now)

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
