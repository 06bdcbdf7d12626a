"""Run records: what each run did, kept in ``.batchflow/runs/<run id>/`` beside the spec.

A record is a file of JSON lines, appended as the run goes (``start``, one ``stage`` per
stage, one ``task`` per completed task, ``end``), so a run that is killed leaves every line
written up to then; a torn last line is skipped on reading. A task may appear more than once
(listed again after a retry or a rerun): the last line wins. Saved task logs sit beside it
in ``logs/``. Run ids are UTC timestamps, so sorting names sorts runs by time.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, get_args

from batchflow.disk import STATE_DIR

RECORD = "record.jsonl"
LOGS = "logs"
RUNS_DIR = Path(STATE_DIR) / "runs"
Outcome = Literal["running", "succeeded", "failed", "interrupted", "error"]


def runs_dir(spec_path: Path) -> Path:
    """Where the runs of specs in this directory are recorded."""
    return spec_path.resolve().parent / RUNS_DIR


def new_run_id(now: _dt.datetime | None = None) -> str:
    """``20261129T140212.345Z-1a2b``: sortable by time, unique with its random tail."""
    t = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{t:%Y%m%dT%H%M%S}.{t.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


def iso(t: _dt.datetime | None) -> str | None:
    """A UTC time as ISO 8601 text (None stays None)."""
    return t.astimezone(_dt.timezone.utc).isoformat() if t else None


def parse_time(text: str | None) -> _dt.datetime | None:
    """The inverse of ``iso``."""
    return _dt.datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class TaskRecord:
    """One task as it ended (or stood when last listed)."""

    id: str
    step: str | None
    state: str
    result: str | None = None
    exit_code: int | None = None
    retries: int = 0  # executionInfo.retryCount
    requeues: int = 0  # executionInfo.requeueCount
    node: str | None = None
    start: str | None = None
    end: str | None = None
    category: str = ""
    message: str = ""
    outputs: tuple[str, ...] = ()  # the output patterns it declared

    @property
    def seconds(self) -> float | None:
        """How long its last attempt ran, when both times are known."""
        start, end = parse_time(self.start), parse_time(self.end)
        return (end - start).total_seconds() if start and end else None


@dataclass
class RunRecord:
    """A run as read back from its record."""

    run_id: str
    directory: Path
    spec: str = ""
    job: str = ""
    pool: str = ""
    target: str = ""
    fingerprint: str = ""
    started: str | None = None
    ended: str | None = None
    outcome: Outcome = "running"
    message: str = ""
    total: int = 0  # the spec's tasks, with those of dynamic steps once the run ended
    up_to_date: int = 0  # not run: up to date from an earlier run
    steps: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    cleaned: tuple[str, ...] = ()
    logs_kept: str = "failed"

    def log_path(self, task_id: str, stream: str) -> Path:
        """Where the task's saved ``stdout``/``stderr`` tail is (it may not exist)."""
        return self.directory / LOGS / f"{task_id}.{stream}.txt"

    def summary(self) -> dict[str, Any]:
        """The run without its tasks (``batchflow runs --json``)."""
        counts: dict[str, int] = {}
        for t in self.tasks.values():
            key = t.result or t.state
            counts[key] = counts.get(key, 0) + 1
        return {
            "run": self.run_id,
            "spec": self.spec,
            "target": self.target,
            "job": self.job,
            "pool": self.pool,
            "fingerprint": self.fingerprint,
            "started": self.started,
            "ended": self.ended,
            "outcome": self.outcome,
            "message": self.message,
            "total": self.total,
            "up_to_date": self.up_to_date,
            "tasks": counts,
            "seconds": self.seconds,
            "cleaned_up": list(self.cleaned),
        }


class RecordWriter:
    """Appends the lines of one run's record; each line is flushed as it is written (no
    fsync: a killed process loses nothing the kernel has, and a run pays no disk flushes)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._fh: IO[str] = (directory / RECORD).open("a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> None:
        """One line: ``{"kind": kind, ...fields}``."""
        self._fh.write(json.dumps({"kind": kind, **fields}, separators=(",", ":")) + "\n")
        self._fh.flush()

    def task(self, rec: TaskRecord) -> None:
        """A task's line."""
        self.write("task", **asdict(rec))

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._fh.close()


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue  # the torn last line of a killed run (or a line nested too deep)
        if isinstance(value, dict) and _sound(value):
            yield value


_NONE = type(None)
# The type of each field a line may have: a line whose fields do not fit (the file was
# edited, damaged, or planted) is skipped as a torn one is, instead of ending `runs`,
# `status` or `report` in an unexpected error.
_TASK_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "step": (str, _NONE),
    "state": (str,),
    "result": (str, _NONE),
    "exit_code": (int, _NONE),
    "retries": (int,),
    "requeues": (int,),
    "node": (str, _NONE),
    "start": (str, _NONE),
    "end": (str, _NONE),
    "category": (str,),
    "message": (str,),
    "outputs": (list,),
}
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "spec": (str,),
    "job": (str,),
    "pool": (str,),
    "target": (str,),
    "fingerprint": (str,),
    "started": (str, _NONE),
    "total": (int,),
    "steps": (list,),
    "logs": (str,),
    "stage": (str,),
    "seconds": (int, float),
    "ended": (str, _NONE),
    "outcome": (str,),
    "message": (str,),
    "cleaned": (list,),
}
_TIMES = ("started", "ended", "start", "end")
# A task id is a Batch id: its kept logs are ``logs/<id>.<stream>.txt``, so an id that
# climbed (``../../x``) would have `report` and `logs` read files outside the run.
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}").fullmatch


def _sound(line: dict[str, Any]) -> bool:
    """Whether each field of ``line`` has the type, and each time the form, it is read as."""
    task = line.get("kind") == "task"
    fields = _TASK_FIELDS if task else _RUN_FIELDS
    for key, value in line.items():
        if key in fields and not isinstance(value, fields[key]):
            return False
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            return False
    for key in _TIMES:
        if isinstance(line.get(key), str) and _time(line[key]) is None:
            return False
    if task and not ({"id", "step", "state"} <= line.keys() and _TASK_ID(line["id"])):
        return False
    return line.get("kind") != "end" or line.get("outcome", "error") in get_args(Outcome)


def _time(text: str) -> _dt.datetime | None:
    """The time ``text`` says, if it says one with its offset (as ``iso`` writes them: a
    naive one cannot be compared with the others)."""
    try:
        t = parse_time(text)
    except ValueError:
        return None
    return t if t is None or t.tzinfo is not None else None


def _apply(rec: RunRecord, line: dict[str, Any]) -> None:
    kind = line.pop("kind", "")
    if kind == "start":
        rec.spec, rec.job = line.get("spec", ""), line.get("job", "")
        rec.pool = line.get("pool", "")
        rec.target, rec.fingerprint = line.get("target", ""), line.get("fingerprint", "")
        rec.started, rec.total = line.get("started"), int(line.get("total", 0))
        rec.steps, rec.logs_kept = tuple(line.get("steps", ())), line.get("logs", "failed")
    elif kind == "stage":
        rec.seconds[str(line.get("stage"))] = float(line.get("seconds", 0.0))
    elif kind == "task":
        line["outputs"] = tuple(line.get("outputs", ()))
        known = TaskRecord.__dataclass_fields__
        task = TaskRecord(**{k: v for k, v in line.items() if k in known})
        rec.tasks[task.id] = task
    elif kind == "end":
        rec.ended, rec.outcome = line.get("ended"), line.get("outcome", "error")
        rec.message, rec.cleaned = line.get("message", ""), tuple(line.get("cleaned", ()))
        rec.total = int(line.get("total", rec.total))
        rec.up_to_date = int(line.get("up_to_date", 0))


def read_record(directory: Path) -> RunRecord:
    """The run recorded in ``directory``; a run with no ``end`` line is still ``running``
    (or was killed)."""
    rec = RunRecord(directory.name, directory)
    for line in _lines(directory / RECORD):
        _apply(rec, line)
    return rec


def list_runs(spec_path: Path) -> list[RunRecord]:
    """The recorded runs of this spec file, newest first."""
    root = runs_dir(spec_path)
    if not root.is_dir():
        return []
    name = spec_path.name
    found = [read_record(d) for d in sorted(root.iterdir(), reverse=True) if d.is_dir()]
    return [r for r in found if r.spec == name]
