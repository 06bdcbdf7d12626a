"""SQLite persistence of the emulated account: the store is the truth, Python holds no copies.

One JSON document per resource plus the indexed columns the service queries on (state, job,
result, creation order). One connection, WAL, ``synchronous=NORMAL``, guarded by a lock: every
state transition is committed before the service acts on it, so a ``kill -9`` loses nothing.
Ids compare case-insensitively, as Batch ids do.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchflow.emulator.kinds import Json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pools (
  id TEXT PRIMARY KEY COLLATE NOCASE, seq INTEGER NOT NULL, state TEXT NOT NULL,
  doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
  pool_id TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, seq INTEGER NOT NULL,
  state TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (pool_id, id));
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY COLLATE NOCASE, seq INTEGER NOT NULL, state TEXT NOT NULL,
  pool_id TEXT COLLATE NOCASE, priority INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  job_id TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL COLLATE NOCASE,
  seq INTEGER NOT NULL, state TEXT NOT NULL, result TEXT, slots INTEGER NOT NULL,
  ready INTEGER NOT NULL, dep_ok INTEGER, num_id INTEGER, node_id TEXT,
  pid INTEGER, pstart INTEGER, expires REAL, doc TEXT NOT NULL, PRIMARY KEY (job_id, id));
CREATE INDEX IF NOT EXISTS tasks_order ON tasks (job_id, seq);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (job_id, state, ready, seq);
CREATE INDEX IF NOT EXISTS tasks_num ON tasks (job_id, num_id);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
CREATE INDEX IF NOT EXISTS tasks_counts ON tasks (job_id, state, result, slots);
CREATE INDEX IF NOT EXISTS tasks_expires ON tasks (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS node_usage (
  pool_id TEXT NOT NULL COLLATE NOCASE, node_id TEXT NOT NULL, vm_size TEXT NOT NULL,
  started REAL NOT NULL, ended REAL);
CREATE TABLE IF NOT EXISTS schedules (
  id TEXT PRIMARY KEY COLLATE NOCASE, seq INTEGER NOT NULL, state TEXT NOT NULL,
  doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS task_waits (
  job_id TEXT NOT NULL COLLATE NOCASE, task_id TEXT NOT NULL COLLATE NOCASE,
  on_id TEXT COLLATE NOCASE, lo INTEGER, hi INTEGER);
CREATE INDEX IF NOT EXISTS task_waits_on ON task_waits (job_id, on_id);
CREATE INDEX IF NOT EXISTS task_waits_task ON task_waits (job_id, task_id);
"""
# What each task depends on, one row per named task (``on_id``) or range (``lo``..``hi``):
# a completed task finds the tasks waiting on it here instead of checking every waiting task.
# A state written before this table existed gets its rows from the task documents.
_WAITS_BACKFILL = """
INSERT INTO task_waits (job_id, task_id, on_id)
  SELECT t.job_id, t.id, d.value FROM tasks t, json_each(t.doc, '$.dependsOn.taskIds') d;
INSERT INTO task_waits (job_id, task_id, lo, hi)
  SELECT t.job_id, t.id, json_extract(d.value, '$.start'), json_extract(d.value, '$.end')
  FROM tasks t, json_each(t.doc, '$.dependsOn.taskIdRanges') d;
"""

_TABLES = ("pools", "nodes", "jobs", "tasks", "schedules")


def _ignore(failure: Exception) -> None:
    del failure


def dumps(doc: Json) -> str:
    return json.dumps(doc, separators=(",", ":"))


class UnreadableDocument(ValueError):
    """A stored document that no longer loads (one an older version stored without today's
    request bounds, e.g. nested deeper than ``json`` can recurse)."""


def loads(text: str) -> Json:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UnreadableDocument(f"a stored document is unreadable: {type(exc).__name__}") from None
    assert isinstance(value, dict)
    return value


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_token`` is opaque, None on the last page."""

    items: list[Json]
    next_token: str | None


class StoreClosed(Exception):
    """The store was closed (the service stopped) while a worker thread still used it."""


# SQLite's result codes for errors the machine causes, not the code (the low byte of
# extended codes such as SQLITE_IOERR_WRITE): READONLY, IOERR, CORRUPT, FULL, CANTOPEN.
_SQLITE_FULL = 13
_ENVIRONMENT_CODES = frozenset({8, 10, 11, _SQLITE_FULL, 14})


class StoreFailure(Exception):
    """SQLite could not read or write the state (disk full, I/O error, read-only file).

    Nothing half-done is kept (the transaction rolled back), but the service cannot record
    what happens next, so it must stop: ``disk_full`` says whether freeing space cures it.
    """

    def __init__(self, path: Path, exc: sqlite3.Error) -> None:
        self.path = path
        self.disk_full = getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL
        what = "disk full" if self.disk_full else "cannot write"
        super().__init__(f"{what}: the emulator's state {path} could not be saved ({exc})")


class Store:
    """The SQLite database under ``data_dir`` (``state.db``)."""

    def __init__(self, path: Path, on_failure: Callable[[StoreFailure], None] = _ignore) -> None:
        """``on_failure`` hears of every ``StoreFailure`` before it is raised: whichever
        thread meets a full disk first, the service learns it at once."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._on_failure = on_failure
        self._lock = threading.RLock()
        self._closed = False
        with self._failing():
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints fsync and run inside a commit: every 8,000 pages (~32 MB of WAL)
            # rather than SQLite's 1,000 keeps them off most task transitions.
            self._db.execute("PRAGMA wal_autocheckpoint=8000")
            self._migrate()
            backfill = self._has_table("tasks") and not self._has_table("task_waits")
            self._db.executescript(_SCHEMA)
            if backfill:
                self._db.executescript(f"BEGIN; {_WAITS_BACKFILL} COMMIT;")
            self._seq = max(self._max_seq(t) for t in _TABLES)

    def _migrate(self) -> None:
        """Bring a data directory from an earlier version up to the current schema."""
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(tasks)")}
        if columns and "expires" not in columns:
            self._db.execute("ALTER TABLE tasks ADD COLUMN expires REAL")

    def _has_table(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._db.execute(query, (name,)).fetchone() is not None

    @property
    def folder(self) -> Path:
        """The directory that holds the database."""
        return self._path.parent

    def _max_seq(self, table: str) -> int:
        row = self._db.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {table}").fetchone()  # noqa: S608
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreClosed()
        return self._db

    @contextmanager
    def _failing(self) -> Iterator[None]:
        """SQLite's operational errors (SQLITE_FULL, SQLITE_IOERR...) as ``StoreFailure``.
        Programming errors (bad SQL, a closed connection) stay what they are: bugs."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _ENVIRONMENT_CODES:
                raise
            failure = StoreFailure(self._path, exc)
            self._on_failure(failure)
            raise failure from exc

    def next_seq(self) -> int:
        """A creation-order number, unique across the account."""
        with self._lock:
            self._seq += 1
            return self._seq

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction (re-entrant: nested calls join the outer one)."""
        with self._lock:
            db = self._open()
            if db.in_transaction:
                yield db
                return
            with self._failing():
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    if not self._closed and db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
                try:
                    db.execute("COMMIT")
                except sqlite3.Error:
                    # A failed COMMIT (disk full) may leave the transaction open: end it, so
                    # the connection is not stuck inside it for every later call.
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._failing():
            return list(self._open().execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock, self._failing():
            row = self._open().execute(sql, params).fetchone()
            return tuple(row) if row is not None else None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write in its own transaction (or the caller's); returns rows changed."""
        with self.tx() as db:
            return int(db.execute(sql, params).rowcount)

    # -- documents ------------------------------------------------------------------------
    def get_doc(self, table: str, where: str, params: Sequence[Any]) -> Json | None:
        row = self.one(f"SELECT doc FROM {table} WHERE {where}", params)  # noqa: S608
        return loads(row[0]) if row else None

    def page(
        self, table: str, where: str, params: Sequence[Any], after: int, limit: int
    ) -> tuple[list[Json], int | None]:
        """Docs in creation order after seq ``after``; returns (docs, last seq if more)."""
        sql = (
            f"SELECT seq, doc FROM {table} WHERE ({where}) AND seq > ? "  # noqa: S608
            "ORDER BY seq LIMIT ?"
        )
        rows = self.query(sql, [*params, after, limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        last = int(rows[-1][0]) if more and rows else None
        return [loads(r[1]) for r in rows], last

    def reset(self) -> None:
        with self.tx() as db:
            for table in (*_TABLES, "task_waits"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608
            db.execute("DELETE FROM node_usage")
