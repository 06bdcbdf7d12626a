"""Every named read and write of the stored rows: the only module besides ``store`` (which
creates the schema) that holds SQL over the account's tables. Jobs, tasks, outcomes, pools,
retention, the scheduler's queue and the recovery after a restart all go through it.

Each operation is one statement (or one transaction) over ``Store``; a row that leaves it
leaves as a document, a number or a frozen record, never as a tuple whose column order the
caller must know.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import Json
from batchflow.emulator.state.store import Page, Store, UnreadableDocument, dumps, loads


# -- the scheduler's queue ------------------------------------------------------------------
@dataclass(frozen=True)
class QueuedJob:
    """An active job of a pool, as the scheduler orders it."""

    id: str
    priority: int
    seq: int
    max_parallel: int  # maxParallelTasks; -1 = unlimited


@dataclass(frozen=True)
class ReadyTask:
    """The oldest ready task of a job that fits in the free slots."""

    id: str
    seq: int
    slots: int


def active_jobs(store: Store, pool_id: str) -> list[QueuedJob]:
    """The pool's active jobs, highest priority first, then oldest first."""
    rows = store.query(
        "SELECT id, priority, seq, json_extract(doc, '$.maxParallelTasks') FROM jobs "
        "WHERE pool_id = ? AND state = 'active' ORDER BY priority DESC, seq",
        (pool_id,),
    )
    return [
        QueuedJob(str(r[0]), int(r[1]), int(r[2]), -1 if r[3] is None else int(r[3])) for r in rows
    ]


def next_ready_task(store: Store, job_id: str, free_slots: int) -> ReadyTask | None:
    """The job's oldest active, ready task needing at most ``free_slots`` slots."""
    row = store.one(
        "SELECT id, seq, slots FROM tasks WHERE job_id = ? AND state = 'active' "
        "AND ready = 1 AND slots <= ? ORDER BY seq LIMIT 1",
        (job_id, free_slots),
    )
    return None if row is None else ReadyTask(str(row[0]), int(row[1]), int(row[2]))


# -- a task's process -----------------------------------------------------------------------
def set_task_process(store: Store, job_id: str, task_id: str, pid: int, ticks: int) -> None:
    """Record the process running a task, so a restart after ``kill -9`` can kill it."""
    store.execute(
        "UPDATE tasks SET pid = ?, pstart = ? WHERE job_id = ? AND id = ?",
        (pid, ticks, job_id, task_id),
    )


@dataclass(frozen=True)
class Orphan:
    """A task recorded as running or preparing: at start-up its process is an orphan."""

    job_id: str
    task_id: str
    pid: int | None
    ticks: int


def running_tasks(store: Store) -> list[Orphan]:
    rows = store.query(
        "SELECT job_id, id, pid, pstart FROM tasks WHERE state IN ('running', 'preparing')"
    )
    return [Orphan(r[0], r[1], int(r[2]) if r[2] else None, int(r[3] or 0)) for r in rows]


@dataclass(frozen=True)
class JobAtStart:
    """A job's state at start-up, and the reason of a termination a stop cut short."""

    id: str
    state: str
    terminate_reason: str | None


def jobs_at_start(store: Store) -> list[JobAtStart]:
    rows = store.query(
        "SELECT id, state, json_extract(doc, '$.executionInfo.terminateReason') FROM jobs"
    )
    return [JobAtStart(r[0], r[1], r[2]) for r in rows]


# -- pools and their node rows --------------------------------------------------------------
def insert_pool(store: Store, doc: Json) -> None:
    """Store a new pool; PoolExists (409) when one of that id (any case) exists."""
    with store.tx() as db:
        if db.execute("SELECT 1 FROM pools WHERE id = ?", (doc["id"],)).fetchone():
            raise errors.pool_exists(doc["id"])
        db.execute(
            "INSERT INTO pools (id, seq, state, doc) VALUES (?, ?, 'active', ?)",
            (doc["id"], store.next_seq(), dumps(doc)),
        )


def delete_pool(store: Store, pool_id: str) -> None:
    """Forget a pool and its node rows."""
    with store.tx() as db:
        db.execute("DELETE FROM nodes WHERE pool_id = ?", (pool_id,))
        db.execute("DELETE FROM pools WHERE id = ?", (pool_id,))


def quarantine_pool(store: Store, pool_id: str, text: str) -> Path:
    """Move an unreadable pool (and its nodes) out of the store into ``quarantine/`` beside
    the database, so that neither start-up nor any listing trips over it again."""
    folder = store.folder / "quarantine"
    folder.mkdir(exist_ok=True)
    kept = folder / f"pool-{pool_id}.json"
    kept.write_text(text, encoding="utf-8")
    delete_pool(store, pool_id)
    return kept


@dataclass(frozen=True)
class StoredNode:
    """What is kept of a local node to re-create it after a restart (same id)."""

    index: int
    generation: int
    dedicated: bool
    pid: int | None  # its start task's process, if one was running
    ticks: int


def stored_pools(store: Store) -> Iterator[tuple[str, Json | UnreadableDocument, str]]:
    """Every pool in creation order: (id, document or why it cannot be read, raw text)."""
    for pool_id, text in store.query("SELECT id, doc FROM pools ORDER BY seq"):
        try:
            yield pool_id, loads(text), text
        except UnreadableDocument as exc:
            yield pool_id, exc, text


def stored_nodes(store: Store, pool_id: str) -> list[StoredNode]:
    rows = store.query("SELECT doc FROM nodes WHERE pool_id = ? ORDER BY seq", (pool_id,))
    specs = [loads(text) for (text,) in rows]
    return [
        StoredNode(
            int(s["index"]),
            int(s["generation"]),
            bool(s["dedicated"]),
            int(s["pid"]) if s.get("pid") else None,
            int(s.get("ticks") or 0),
        )
        for s in specs
    ]


def put_node(
    store: Store,
    pool_id: str,
    node_id: str,
    index: int,
    state: str,
    *,
    gen: int,
    dedicated: bool,
) -> None:
    """Record a node of a pool (or its replacement under the same id)."""
    store.execute(
        "INSERT OR REPLACE INTO nodes (pool_id, id, seq, state, doc) VALUES (?, ?, ?, ?, ?)",
        (
            pool_id,
            node_id,
            index,
            state,
            dumps({"index": index, "generation": gen, "dedicated": dedicated}),
        ),
    )


def set_node_process(store: Store, pool_id: str, node_id: str, pid: int, ticks: int) -> None:
    """Record a node's start task process, so a restart after ``kill -9`` can kill it."""
    store.execute(
        "UPDATE nodes SET doc = json_set(doc, '$.pid', ?, '$.ticks', ?) "
        "WHERE pool_id = ? AND id = ?",
        (pid, ticks, pool_id, node_id),
    )


def delete_node(store: Store, pool_id: str, node_id: str) -> None:
    store.execute("DELETE FROM nodes WHERE pool_id = ? AND id = ?", (pool_id, node_id))


# -- documents and their indexed columns ----------------------------------------------------
Change = Callable[[Json], object]
# A column's new value, or a function computing it from the changed document.
Column = object
_TASK_COLUMNS = frozenset(
    {"state", "result", "ready", "dep_ok", "node_id", "pid", "pstart", "expires"}
)


def update_task(store: Store, job_id: str, task_id: str, change: Change, **columns: Column) -> Json:
    """Load, change, stamp and write back a task's document and the columns named (state,
    result, ready, dep_ok, node_id, pid, pstart, expires). No side effect: a caller that
    puts the task back in the queue tells the scheduler itself (``Core.touch``)."""
    assert _TASK_COLUMNS.issuperset(columns), f"not a task column: {set(columns)}"
    return _update(store, "tasks", "job_id = ? AND id = ?", (job_id, task_id), change, columns)


def update_job(store: Store, job_id: str, change: Change, state: str | None = None) -> Json:
    """Load, change, stamp and write back a job's document (and its ``state`` column)."""
    columns: dict[str, Column] = {} if state is None else {"state": state}
    return _update(store, "jobs", "id = ?", (job_id,), change, columns)


def set_job_scheduling(store: Store, job_id: str, priority: int, pool_id: str | None) -> None:
    """The columns the scheduler orders and picks jobs by, after an update of the job."""
    store.execute(
        "UPDATE jobs SET priority = ?, pool_id = ? WHERE id = ?", (priority, pool_id, job_id)
    )


def update_pool(store: Store, pool_id: str, change: Change) -> Json:
    """Load, change, stamp and write back a pool's document."""
    return _update(store, "pools", "id = ?", (pool_id,), change, {})


def _update(
    store: Store,
    table: str,
    where: str,
    key: tuple[str, ...],
    change: Change,
    columns: dict[str, Column],
) -> Json:
    with store.tx() as db:
        row = db.execute(f"SELECT doc FROM {table} WHERE {where}", key).fetchone()  # noqa: S608
        if row is None:
            raise errors.resource_not_found()
        doc = loads(row[0])
        change(doc)
        shapes.stamp(doc)
        sets = ", ".join(f"{c} = ?" for c in ["doc", *columns])
        values = [v(doc) if callable(v) else v for v in columns.values()]
        db.execute(
            f"UPDATE {table} SET {sets} WHERE {where}",  # noqa: S608
            (dumps(doc), *values, *key),
        )
    return doc


# -- documents by key, and listings -----------------------------------------------------------
def job_doc(store: Store, job_id: str) -> Json | None:
    return store.get_doc("jobs", "id = ?", (job_id,))


def pool_doc(store: Store, pool_id: str) -> Json | None:
    return store.get_doc("pools", "id = ?", (pool_id,))


def task_doc(store: Store, job_id: str, task_id: str) -> Json | None:
    return store.get_doc("tasks", "job_id = ? AND id = ?", (job_id, task_id))


def _page(
    store: Store, table: str, where: str, params: list[object], token: str | None, limit: int
) -> Page:
    docs, last = store.page(table, where, params, int(token or 0), limit)
    return Page(docs, str(last) if last is not None else None)


def pools_page(
    store: Store, where: str, params: list[object], token: str | None, limit: int
) -> Page:
    """Pools in creation order matching ``where`` (a compiled ``$filter``), after ``token``."""
    return _page(store, "pools", where, params, token, limit)


def jobs_page(
    store: Store, where: str, params: list[object], token: str | None, limit: int
) -> Page:
    """Jobs in creation order matching ``where`` (a compiled ``$filter``), after ``token``."""
    return _page(store, "jobs", where, params, token, limit)


def tasks_page(
    store: Store, job_id: str, where: str, params: list[object], token: str | None, limit: int
) -> Page:
    """A job's tasks in creation order matching ``where``, after ``token``."""
    return _page(store, "tasks", f"job_id = ? AND ({where})", [job_id, *params], token, limit)


# -- jobs -------------------------------------------------------------------------------------
def insert_job(store: Store, doc: Json, pool_id: str | None) -> None:
    """Store a new, active job; JobExists (409) when one of that id (any case) exists."""
    with store.tx() as db:
        if db.execute("SELECT 1 FROM jobs WHERE id = ?", (doc["id"],)).fetchone():
            raise errors.job_exists(doc["id"])
        db.execute(
            "INSERT INTO jobs (id, seq, state, pool_id, priority, doc) VALUES "
            "(?, ?, 'active', ?, ?, ?)",
            (doc["id"], store.next_seq(), pool_id, int(doc["priority"]), dumps(doc)),
        )


def delete_job(store: Store, job_id: str) -> None:
    """Forget a job and all its tasks."""
    with store.tx() as db:
        db.execute("DELETE FROM tasks WHERE job_id = ?", (job_id,))
        db.execute("DELETE FROM task_waits WHERE job_id = ?", (job_id,))
        db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


@dataclass(frozen=True)
class StateCount:
    """How many of a job's tasks are in one state (and result), and the slots they take."""

    state: str
    result: str | None
    tasks: int
    slots: int


def task_state_counts(store: Store, job_id: str) -> list[StateCount]:
    """One grouped query answered from a covering index: no document is loaded."""
    rows = store.query(
        "SELECT state, result, COUNT(*), SUM(slots) FROM tasks WHERE job_id = ? "
        "GROUP BY state, result",
        (job_id,),
    )
    return [StateCount(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]


def has_unfinished_task(store: Store, job_id: str) -> bool:
    row = store.one(
        "SELECT 1 FROM tasks WHERE job_id = ? AND state != 'completed' LIMIT 1", (job_id,)
    )
    return row is not None


# -- tasks ------------------------------------------------------------------------------------
def insert_task(store: Store, job_id: str, doc: Json, ready: Callable[[], bool]) -> None:
    """Store a new, active task; TaskExists (409) when the job holds one of that id. ``ready``
    (are its dependencies met?) is asked inside the transaction, so a dependency completing
    meanwhile cannot leave the task waiting for ever."""
    with store.tx() as db:
        if db.execute(
            "SELECT 1 FROM tasks WHERE job_id = ? AND id = ?", (job_id, doc["id"])
        ).fetchone():
            raise errors.task_exists(doc["id"])
        ident = str(doc["id"])
        _insert_waits(db, job_id, ident, doc.get("dependsOn"))
        db.execute(
            "INSERT INTO tasks (job_id, id, seq, state, slots, ready, num_id, doc) "
            "VALUES (?, ?, ?, 'active', ?, ?, ?, ?)",
            (
                job_id,
                ident,
                store.next_seq(),
                int(doc["requiredSlots"]),
                int(ready()),
                int(ident) if ident.isdigit() else None,
                dumps(doc),
            ),
        )


def delete_task(store: Store, job_id: str, task_id: str) -> None:
    with store.tx() as db:
        db.execute("DELETE FROM tasks WHERE job_id = ? AND id = ?", (job_id, task_id))
        db.execute("DELETE FROM task_waits WHERE job_id = ? AND task_id = ?", (job_id, task_id))


def satisfied_count(store: Store, job_id: str, task_ids: list[str]) -> int:
    """How many of ``task_ids`` (at most 500) completed and satisfy their dependents."""
    marks = ",".join("?" * len(task_ids))
    row = store.one(
        f"SELECT COUNT(*) FROM tasks WHERE job_id = ? AND id IN ({marks}) "  # noqa: S608
        "AND dep_ok = 1",
        (job_id, *task_ids),
    )
    return 0 if row is None else int(row[0])


def range_verdict(store: Store, job_id: str, start: int, end: int) -> tuple[int, int]:
    """(tasks whose integer id is in [start, end], how many of them do not satisfy)."""
    row = store.one(
        "SELECT COUNT(*), COALESCE(SUM(dep_ok IS NULL OR dep_ok = 0), 0) FROM tasks "
        "WHERE job_id = ? AND num_id BETWEEN ? AND ?",
        (job_id, start, end),
    )
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def waiting_tasks(store: Store, job_id: str) -> list[tuple[str, Json]]:
    """The job's active tasks held back by their dependencies: (id, document)."""
    rows = store.query(
        "SELECT id, doc FROM tasks WHERE job_id = ? AND state = 'active' AND ready = 0", (job_id,)
    )
    return [(r[0], loads(r[1])) for r in rows]


def mark_ready(store: Store, job_id: str, task_ids: list[str]) -> None:
    with store.tx() as db:
        db.executemany(
            "UPDATE tasks SET ready = 1 WHERE job_id = ? AND id = ?",
            [(job_id, task_id) for task_id in task_ids],
        )


# -- retention ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExpiredDir:
    """A completed task whose directory's retention time has passed, and where it ran."""

    job_id: str
    task_id: str
    pool_id: str | None
    node_id: str | None


def earliest_expiry(store: Store) -> float | None:
    row = store.one("SELECT MIN(expires) FROM tasks WHERE expires IS NOT NULL")
    return float(row[0]) if row and row[0] is not None else None


def expired_dirs(store: Store, now: float, limit: int) -> list[ExpiredDir]:
    rows = store.query(
        "SELECT job_id, id, json_extract(doc, '$.nodeInfo.poolId'), "
        "json_extract(doc, '$.nodeInfo.nodeId') FROM tasks "
        "WHERE expires IS NOT NULL AND expires <= ? LIMIT ?",
        (now, limit),
    )
    return [ExpiredDir(r[0], r[1], r[2], r[3]) for r in rows]


def clear_expiry(store: Store, done: list[ExpiredDir]) -> None:
    with store.tx() as db:
        db.executemany(
            "UPDATE tasks SET expires = NULL WHERE job_id = ? AND id = ?",
            [(d.job_id, d.task_id) for d in done],
        )


# -- node usage (Pool_ListUsageMetrics) -------------------------------------------------------
@dataclass(frozen=True)
class NodeUsage:
    """One stretch of time a node was allocated (started to ended, epoch seconds; ended None:
    still is)."""

    pool_id: str
    vm_size: str
    started: float
    ended: float | None


def open_node_usage(store: Store, pool_id: str, node_id: str, vm_size: str) -> None:
    """A node was allocated (or started again): its usage runs from now."""
    now = time.time()
    with store.tx() as db:
        db.execute(
            "UPDATE node_usage SET ended = ? WHERE node_id = ? AND ended IS NULL", (now, node_id)
        )
        db.execute(
            "INSERT INTO node_usage (pool_id, node_id, vm_size, started) VALUES (?, ?, ?, ?)",
            (pool_id, node_id, vm_size, now),
        )


def close_node_usage(store: Store, node_id: str) -> None:
    """A node was removed or deallocated: its usage stops now."""
    store.execute(
        "UPDATE node_usage SET ended = ? WHERE node_id = ? AND ended IS NULL",
        (time.time(), node_id),
    )


def close_all_node_usage(store: Store) -> None:
    """The emulator stops: no node is allocated until it starts again."""
    store.execute("UPDATE node_usage SET ended = ? WHERE ended IS NULL", (time.time(),))


def node_usage(store: Store, since: float, until: float) -> list[NodeUsage]:
    """Every stretch of node time that overlaps [since, until)."""
    rows = store.query(
        "SELECT pool_id, vm_size, started, ended FROM node_usage "
        "WHERE started < ? AND (ended IS NULL OR ended > ?) ORDER BY rowid",
        (until, since),
    )
    return [NodeUsage(r[0], r[1], float(r[2]), None if r[3] is None else float(r[3])) for r in rows]


def first_node_usage(store: Store) -> float | None:
    row = store.one("SELECT MIN(started) FROM node_usage")
    return float(row[0]) if row and row[0] is not None else None


# -- job schedules (and the jobs they made: ids "{scheduleId}:job-{n}") ----------------------
def _schedule_prefix(schedule_id: str) -> str:
    """A LIKE pattern for the ids of a schedule's jobs (``%``, ``_`` and ``\\`` escaped)."""
    escaped = schedule_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}:job-%"


def insert_schedule(store: Store, doc: Json) -> None:
    """Store a new schedule; JobScheduleExists (409), or JobWithSameIdExists when a job holds
    the id (a job and a schedule may not share one)."""
    with store.tx() as db:
        if db.execute("SELECT 1 FROM schedules WHERE id = ?", (doc["id"],)).fetchone():
            raise errors.job_schedule_exists(doc["id"])
        if db.execute("SELECT 1 FROM jobs WHERE id = ?", (doc["id"],)).fetchone():
            raise errors.job_with_same_id_exists(doc["id"])
        db.execute(
            "INSERT INTO schedules (id, seq, state, doc) VALUES (?, ?, ?, ?)",
            (doc["id"], store.next_seq(), doc["state"], dumps(doc)),
        )


def schedule_doc(store: Store, schedule_id: str) -> Json | None:
    return store.get_doc("schedules", "id = ?", (schedule_id,))


def update_schedule(store: Store, schedule_id: str, change: Change) -> Json:
    """Load, change, stamp and write back a schedule's document and its state column."""
    return _update(
        store, "schedules", "id = ?", (schedule_id,), change, {"state": lambda d: d["state"]}
    )


def delete_schedule(store: Store, schedule_id: str) -> None:
    store.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))


def schedules_page(
    store: Store, where: str, params: list[object], token: str | None, limit: int
) -> Page:
    """Schedules in creation order matching ``where`` (a compiled ``$filter``), after ``token``."""
    return _page(store, "schedules", where, params, token, limit)


def schedule_ids(store: Store, state: str | None = None) -> list[str]:
    """The ids of every schedule (or of those in ``state``), in creation order."""
    if state is None:
        return [str(r[0]) for r in store.query("SELECT id FROM schedules ORDER BY seq")]
    query = "SELECT id FROM schedules WHERE state = ? ORDER BY seq"
    return [str(r[0]) for r in store.query(query, (state,))]


def schedule_jobs_page(
    store: Store,
    schedule_id: str,
    where: str,
    params: list[object],
    token: str | None,
    limit: int,
) -> Page:
    """The jobs a schedule made, in creation order, matching ``where``, after ``token``."""
    mine = "id LIKE ? ESCAPE '\\'"
    return _page(
        store,
        "jobs",
        f"{mine} AND ({where})",
        [_schedule_prefix(schedule_id), *params],
        token,
        limit,
    )


def schedule_job_ids(store: Store, schedule_id: str) -> list[str]:
    """The ids of the jobs a schedule made that still exist."""
    rows = store.query(
        "SELECT id FROM jobs WHERE id LIKE ? ESCAPE '\\' ORDER BY seq",
        (_schedule_prefix(schedule_id),),
    )
    return [str(r[0]) for r in rows]


@dataclass(frozen=True)
class ScheduleTaskStats:
    """Over the tasks of a schedule's jobs: how many succeeded, failed, and were retried."""

    succeeded: int
    failed: int
    retries: int


def schedule_task_stats(store: Store, schedule_id: str) -> ScheduleTaskStats:
    row = store.one(
        "SELECT COALESCE(SUM(result = 'success'), 0), COALESCE(SUM(result = 'failure'), 0), "
        "COALESCE(SUM(json_extract(doc, '$.executionInfo.retryCount')), 0) FROM tasks "
        "WHERE job_id LIKE ? ESCAPE '\\'",
        (_schedule_prefix(schedule_id),),
    )
    return ScheduleTaskStats(*(int(v) for v in row)) if row else ScheduleTaskStats(0, 0, 0)


# -- statistics ($expand=stats) ----------------------------------------------------------------
def job_task_docs(store: Store, job_id: str) -> list[Json]:
    """Every task document of a job (for its statistics: read only when asked for)."""
    return [loads(r[0]) for r in store.query("SELECT doc FROM tasks WHERE job_id = ?", (job_id,))]


# -- what tasks wait on (task_waits) ---------------------------------------------------------
def _insert_waits(db: sqlite3.Connection, job_id: str, task_id: str, depends: Json | None) -> None:
    """Index what a new task depends on (in the transaction that inserts it, so a completion
    that commits after it finds it here, and one that committed before made it ready)."""
    if not depends:
        return
    named = {str(i).lower() for i in depends.get("taskIds") or []}
    db.executemany(
        "INSERT INTO task_waits (job_id, task_id, on_id) VALUES (?, ?, ?)",
        [(job_id, task_id, on) for on in sorted(named)],
    )
    db.executemany(
        "INSERT INTO task_waits (job_id, task_id, lo, hi) VALUES (?, ?, ?, ?)",
        [
            (job_id, task_id, int(span["start"]), int(span["end"]))
            for span in depends.get("taskIdRanges") or []
        ],
    )


def waiting_on(store: Store, job_id: str, task_id: str) -> list[tuple[str, Json]]:
    """The job's tasks held back by their dependencies that name ``task_id`` or a range
    holding it: (id, document)."""
    waiting = (
        "SELECT t.id, t.doc FROM task_waits w JOIN tasks t "
        "ON t.job_id = w.job_id AND t.id = w.task_id "
        "WHERE w.job_id = ? AND t.state = 'active' AND t.ready = 0 AND "
    )
    sql = f"{waiting} w.on_id = ?"
    params: tuple[Any, ...] = (job_id, task_id)
    if task_id.isdigit():
        sql += f" UNION {waiting} w.on_id IS NULL AND ? BETWEEN w.lo AND w.hi"
        params = (*params, job_id, int(task_id))
    return [(r[0], loads(r[1])) for r in store.query(sql, params)]


# -- the active jobs and job schedules quota (job_quota) -------------------------------------
def active_jobs_and_schedules(store: Store) -> int:
    """How many jobs and job schedules are not completed (what the account's quota counts)."""
    sql = (
        "SELECT (SELECT COUNT(*) FROM jobs WHERE state != 'completed') + "
        "(SELECT COUNT(*) FROM schedules WHERE state != 'completed')"
    )
    return int(store.query(sql)[0][0])
