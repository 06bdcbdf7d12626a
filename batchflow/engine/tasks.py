"""Stage 4: add the tasks the job does not have yet, in concurrent chunks of 100.

One listing (``$select=id,displayName``) says what exists and, by each task's fingerprint
(``fingerprint``), whether its definition changed since it was added; each chunk goes in
one ``addtaskcollection`` call. Per-task TaskExists is success (a retried call that went
through the first time); per-task server errors are retried; RequestBodyTooLarge halves the
chunk.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from batchflow.engine.bodies import task_body
from batchflow.engine.events import Event, EventSink
from batchflow.engine.fingerprint import changed, fingerprint, input_md5s
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BatchService, Json
from batchflow.errors import BackendError, TransientError
from batchflow.plan_model import Plan, TaskPlan

CHUNK = 100
SERVER_ERROR_ATTEMPTS = 8


def all_tasks(plan: Plan) -> Iterator[TaskPlan]:
    """The plan's tasks, then its final task if any."""
    yield from plan.tasks
    if plan.job.final_task is not None:
        yield plan.job.final_task


def _chunks(items: Iterable[Json], size: int) -> Iterator[list[Json]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def add_chunk(batch: BatchService, job_id: str, bodies: Sequence[Json]) -> int:
    """Add ``bodies``; returns how many were added now. Raises on a task the service refuses."""
    pending, added = list(bodies), 0
    for attempt in range(SERVER_ERROR_ATTEMPTS):
        try:
            results = batch.add_tasks(job_id, pending)
        except BackendError as exc:
            if exc.code == "RequestBodyTooLarge" and len(pending) > 1:
                half = len(pending) // 2
                return (
                    added
                    + add_chunk(batch, job_id, pending[:half])
                    + add_chunk(batch, job_id, pending[half:])
                )
            if not isinstance(exc, TransientError) or attempt == SERVER_ERROR_ATTEMPTS - 1:
                raise
            time.sleep(0.1 * 2**attempt)
            continue
        by_id = {b["id"]: b for b in pending}
        retry: list[Json] = []
        for res in results:
            if res.status == "success":
                added += 1
            elif res.status == "servererror":
                retry.append(by_id[res.task_id])
            elif res.code != "TaskExists":
                raise BackendError(f"task {res.task_id} was refused: {res.message}", code=res.code)
        if not retry:
            return added
        pending = retry
        time.sleep(0.1 * 2**attempt)
    raise TransientError(
        f"{len(pending)} tasks could not be added after {SERVER_ERROR_ATTEMPTS} attempts",
        code="ServerError",
    )


FAILED = "executionInfo/result eq 'failure'"


def _existing(
    plan: Plan,
    batch: BatchService,
    md5s: dict[str, str],
    owned: Callable[[str], bool] | None = None,
) -> tuple[set[str], dict[str, str], dict[str, str], list[str]]:
    """(lower-cased ids already in the job, the changed ones, the ones that failed, the ids
    of tasks in the job that the spec no longer has): the middle two map lower-cased id ->
    id. A failed task is run again by the next ``run``: that is what a user who fixed the
    cause and runs again expects."""
    names = retry_transient(lambda: batch.list_task_fingerprints(plan.job.id))
    recorded = {i.lower(): name for i, name in names.items()}
    failed_ids = (
        {t.id.lower() for t in retry_transient(lambda: batch.list_tasks(plan.job.id, FAILED))}
        if recorded
        else set()
    )
    stale: dict[str, str] = {}
    failed: dict[str, str] = {}
    in_plan: set[str] = set()  # bounded by the job's size, not the sweep's
    for t in all_tasks(plan):
        key = t.id.lower()
        if (name := recorded.get(key)) is None:
            continue
        in_plan.add(key)
        if changed(name, fingerprint(t, md5s)):
            stale[key] = t.id
        elif key in failed_ids:
            failed[key] = t.id
    ids = {i.lower(): i for i in names}
    not_in_spec = sorted(ids[k] for k in recorded.keys() - in_plan if owned is None or not owned(k))
    return set(recorded), stale, failed, not_in_spec


def dependents(plan: Plan, roots: dict[str, str]) -> dict[str, str]:
    """``roots`` (lower-cased id -> id) grown by every task of the plan that depends on one
    of them, directly or not."""
    deps = [
        (t.id.lower(), t.id, {d.lower() for d in t.depends_on})
        for t in all_tasks(plan)
        if t.depends_on
    ]
    return _with_dependents(dict(roots), deps)


def _with_dependents(
    stale: dict[str, str], deps: list[tuple[str, str, set[str]]]
) -> dict[str, str]:
    """``stale`` grown by every task that depends, directly or not, on a stale one: a merge
    step over changed results must run again too."""
    grew = bool(stale)
    while grew:
        grew = False
        for key, task_id, needs in deps:
            if key not in stale and needs & stale.keys():
                stale[key] = task_id
                grew = True
    return stale


def _delete_stale(plan: Plan, batch: BatchService, stale: Sequence[str], workers: int) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for fut in [
            pool.submit(retry_transient, functools.partial(batch.delete_task, plan.job.id, i))
            for i in stale
        ]:
            fut.result()


def add_missing_tasks(
    plan: Plan,
    batch: BatchService,
    input_url: str,
    output_url: str,
    sink: EventSink,
    workers: int = 8,
    outputs_read_url: str = "",
    cached: Mapping[str, str] | None = None,
    owned: Callable[[str], bool] | None = None,
    before_adding: Callable[[set[str]], object] | None = None,
) -> tuple[int, int, int, tuple[str, ...]]:
    """Add every task of the plan the job lacks; tasks whose definition changed since they
    were added (their fingerprint differs) are deleted and added again, completed or not.
    ``cached`` (lower-cased id -> id, from ``engine.cache``) are up to date from an earlier
    run: they are not added, and dependencies on them are dropped (their outputs are in the
    output container already). ``owned`` tells the tasks of dynamic steps, which the plan
    cannot list (``engine.expand`` sees to them). ``before_adding`` is given the
    lower-cased ids the job keeps as they are, before any task is added. Returns (added
    now, already there and unchanged, changed and re-added, the ids of tasks in the job
    that the spec no longer has: they are left as they are)."""
    skip = cached or {}
    md5s = input_md5s(plan)
    existing, changed_ids, failed_ids, not_in_spec = _existing(plan, batch, md5s, owned)
    if not_in_spec:
        sink(Event("tasks", _not_in_spec(not_in_spec)))
    if changed_ids:
        n = len(changed_ids)
        sink(Event("tasks", f"{_tasks(n)} changed since the last run: re-running them"))
    if failed_ids:
        n = len(failed_ids)
        them = "it" if n == 1 else "them"
        sink(Event("tasks", f"{_tasks(n)} failed in the last run: running {them} again"))
    # A merge step over changed or failed results must run again too (a task blocked by a
    # failed dependency never ran: it is replaced so that it waits on the new attempt).
    stale = list(dependents(plan, {**changed_ids, **failed_ids}).values())
    if stale:
        _delete_stale(plan, batch, stale, workers)
        existing -= {i.lower() for i in stale}
    if before_adding is not None:
        before_adding(existing)

    def body(t: TaskPlan) -> Json:
        # The fingerprint of the task as the spec defines it, dependencies included: the
        # next run compares with that, whatever was up to date this time.
        name = fingerprint(t, md5s)
        if skip and t.depends_on:
            t = dataclasses.replace(t, depends_on=without(t.depends_on, skip))
        return {**task_body(t, input_url, output_url, outputs_read_url), "displayName": name}

    missing = (
        body(t) for t in all_tasks(plan) if (k := t.id.lower()) not in existing and k not in skip
    )
    total = len(plan.tasks) + (plan.job.final_task is not None)
    # the spec's tasks the job already has
    present = len(existing) - len(not_in_spec) - sum(1 for i in existing if owned and owned(i))
    todo = total - present - len(skip)
    if skip:
        sink(Event("tasks", f"{_tasks(len(skip))} up to date from an earlier run: not run again"))
    sink(Event("tasks", f"{_tasks(present)} already in the job, adding {todo}", 0, todo))
    added = 0
    # At most 2 chunks per worker in flight: a sweep of a million tasks is rendered as it
    # goes, not held in memory at once.
    in_flight: deque[Future[int]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk in _chunks(missing, CHUNK):
            if len(in_flight) >= 2 * workers:
                added += in_flight.popleft().result()
                sink(Event("tasks", f"added {_tasks(added)}", added, max(todo, added)))
            in_flight.append(pool.submit(add_chunk, batch, plan.job.id, chunk))
        while in_flight:
            added += in_flight.popleft().result()
            sink(Event("tasks", f"added {_tasks(added)}", added, max(todo, added)))
    return added, present, len(stale), tuple(not_in_spec)


def without(depends_on: tuple[str, ...], skip: Mapping[str, str]) -> tuple[str, ...]:
    """``depends_on`` less the tasks in ``skip`` (lower-cased ids: up to date, not in the job)."""
    return tuple(d for d in depends_on if d.lower() not in skip)


def _tasks(n: int) -> str:
    return f"{n} task" if n == 1 else f"{n} tasks"


SHOWN_IDS = 10


def named(ids: Sequence[str]) -> str:
    """Up to ``SHOWN_IDS`` task ids, then how many more."""
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return ", ".join(ids[:SHOWN_IDS]) + more


def _not_in_spec(ids: Sequence[str]) -> str:
    verb = "is" if len(ids) == 1 else "are"
    it = "it is" if len(ids) == 1 else "they are"
    return (
        f"{_tasks(len(ids))} in the job {verb} not in the spec ({named(ids)}): left as "
        f"{it}, and counted below; `batchflow down` deletes the job"
    )
