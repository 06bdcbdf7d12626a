"""Caching that survives cleanup: a task that already succeeded is not run again.

A task's cache key is a sha256 over its fingerprint (``fingerprint``: command, environment,
inputs with their MD5s, outputs, dependencies) and the keys of the tasks it depends on, so a
step's key stands for everything upstream of it: change one input file and exactly the tasks
downstream of it get new keys. After each run, every task that succeeded is recorded (id,
fingerprint, key, the output blobs it left with their MD5s) in ``.batchflow/cache/<job>.jsonl``
beside the spec and in the output container (``CACHE_BLOB``), so a second machine with the
same spec sees it too.

A task is up to date when its record has its key and every output it left is still in the
output container (same MD5 where both sides know one), and everything it depends on is up to
date too. Up-to-date tasks are not added to the job; tasks that depend on one lose that
dependency (Batch cannot name a task the job lacks) and read its outputs from the output
container as always. While the job exists, its tasks are the truth: the cache only stands in
for tasks the job no longer holds (after cleanup deleted it). A spec with ``print_stdout``
is not cached: what it asks for is each task's stdout from this run, not in the container.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from batchflow.disk import STATE_DIR, replace_atomically
from batchflow.engine.bodies import output_blob_path
from batchflow.engine.events import Event, EventSink
from batchflow.engine.fingerprint import fingerprint, input_md5s
from batchflow.engine.polling import retry_transient, say_if_slow
from batchflow.engine.protocols import BatchService, BlobStore
from batchflow.engine.tasks import all_tasks
from batchflow.plan_model import OutputPlan, Plan, TaskPlan

CACHE_BLOB = ".batchflow/cache.jsonl"  # in the output container; never downloaded
SUCCEEDED = "executionInfo/result eq 'success'"
_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class Record:
    """A task that succeeded: with what definition (``key``) and what it left behind."""

    id: str
    fingerprint: str
    key: str
    outputs: Mapping[str, str]  # blob name -> hex MD5 ("" when the store knows none)


@dataclass(frozen=True)
class Keys:
    """Every task of the plan (lower-cased id) with its fingerprint and cache key, in an order
    where each task comes after those it depends on."""

    fingerprints: dict[str, str]
    keys: dict[str, str]
    depends: dict[str, tuple[str, ...]]  # lower-cased ids it depends on (only those with any)
    ids: dict[str, str]  # lower-cased id -> id

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)


def _key(own: str, upstream: list[str]) -> str:
    return hashlib.sha256("\n".join([own, *upstream]).encode()).hexdigest()


def task_keys(plan: Plan) -> Keys:
    """The keys of every task of the plan (see the module docstring)."""
    md5s = input_md5s(plan)
    result = Keys({}, {}, {}, {})
    waiting: list[TaskPlan] = []  # a list item may depend on one further down the list
    for task in all_tasks(plan):
        if not _place(result, task, md5s):
            waiting.append(task)
    while waiting:
        still = [t for t in waiting if not _place(result, t, md5s)]
        if len(still) == len(waiting):  # dependencies that name no task: validate refuses them
            for t in still:
                _place(result, t, md5s, force=True)
            break
        waiting = still
    return result


def _place(keys: Keys, task: TaskPlan, md5s: Mapping[str, str], force: bool = False) -> bool:
    deps = tuple(d.lower() for d in task.depends_on)
    if not force and any(d not in keys.keys for d in deps):
        return False
    low = task.id.lower()
    own = fingerprint(task, md5s)
    keys.fingerprints[low] = own
    keys.keys[low] = _key(own, [keys.keys.get(d, "") for d in sorted(deps)])
    keys.ids[low] = task.id
    if deps:
        keys.depends[low] = deps
    return True


def _local_path(plan: Plan) -> Path:
    return plan.spec_path.resolve().parent / STATE_DIR / "cache" / f"{plan.job.id}.jsonl"


def _parse(lines: Iterator[str]) -> dict[str, Record]:
    records: dict[str, Record] = {}
    for line in lines:
        # RecursionError: a line nested deeper than the parser goes (a hostile copy in the
        # output container) is one more damaged line, not the end of the run.
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raw = json.loads(line)
            rec = Record(raw["id"], raw["fingerprint"], raw["key"], dict(raw["outputs"]))
            records[rec.id.lower()] = rec  # a damaged line is skipped: its task just runs
    return records


def read_records(plan: Plan, blobs: BlobStore) -> dict[str, Record]:
    """What earlier runs recorded: the local file, completed by the output container's copy
    (another machine's runs)."""
    records: dict[str, Record] = {}
    if CACHE_BLOB in retry_transient(lambda: blobs.list_blobs(plan.output_container, CACHE_BLOB)):
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "cache.jsonl"
            retry_transient(lambda: blobs.download(plan.output_container, CACHE_BLOB, dest))
            records.update(_parse(_decoded(dest.read_bytes())))
    records.update(local_records(plan))
    return records


def local_records(plan: Plan) -> dict[str, Record]:
    """What earlier runs on this machine recorded (empty when none did)."""
    try:
        data = _local_path(plan).read_bytes()
    except OSError:
        return {}
    return _parse(_decoded(data))


def _decoded(data: bytes) -> Iterator[str]:
    """The lines of a record file, decoded as ``_write`` encodes them: names that are not
    UTF-8 (a task's ``caf\\xe9.txt``) travel as surrogates. A line that does not decode is
    damaged (skipped), not the end of the run, nor of the other lines."""
    for line in data.splitlines():
        with contextlib.suppress(UnicodeDecodeError):
            yield line.decode("utf-8", "surrogatepass")


def _outputs_there(rec: Record, listing: Mapping[str, bytes | None]) -> bool:
    for blob, md5 in rec.outputs.items():
        if blob not in listing:
            return False
        there = listing[blob]
        if md5 and there is not None and there.hex() != md5:
            return False
    return True


@dataclass
class Cache:
    """What the cache decided for one run. The tasks of dynamic steps, made while the run
    goes, are judged as they are made (``admit``)."""

    keys: Keys
    records: dict[str, Record]
    up_to_date: dict[str, str] = field(default_factory=dict)  # lower-cased id -> id
    md5s: Mapping[str, str] = field(default_factory=dict)  # the run's input files
    listing: Mapping[str, bytes | None] = field(default_factory=dict)  # the output container
    in_job: set[str] = field(default_factory=set)  # lower-cased ids: the job's word stands

    @property
    def everything(self) -> bool:
        """Every task the plan lists is up to date (a workflow's dynamic tasks aside)."""
        return len(self.up_to_date) == len(self.keys.keys)

    def admit(self, task: TaskPlan) -> bool:
        """Give ``task``, made after every task it depends on, its key; whether it is up
        to date (as ``decide`` judges the plan's tasks)."""
        _place(self.keys, task, self.md5s, force=True)
        low = task.id.lower()
        if self.current(low):
            self.up_to_date[low] = task.id
            return True
        return False

    def current(self, low: str) -> bool:
        """Whether the task ``low`` (lower-cased id, keyed) is up to date."""
        rec = self.records.get(low)
        return (
            rec is not None
            and low not in self.in_job
            and rec.key == self.keys.keys[low]
            and all(d in self.up_to_date for d in self.keys.depends.get(low, ()))
            and _outputs_there(rec, self.listing)
        )

    def trial(self) -> Cache:
        """A copy to judge what a run would make, leaving this one as it is."""
        k = self.keys
        keys = Keys(dict(k.fingerprints), dict(k.keys), dict(k.depends), dict(k.ids))
        up_to_date = dict(self.up_to_date)
        return Cache(keys, self.records, up_to_date, self.md5s, self.listing, self.in_job)


def cacheable(plan: Plan) -> bool:
    """Whether the cache speaks for ``plan``: not for a spec that prints each task's stdout
    (it wants it from this run: it is no output)."""
    return not plan.print_stdout


def decide(plan: Plan, batch: BatchService, blobs: BlobStore, sink: EventSink) -> Cache:
    """Which tasks are up to date (see the module docstring): one listing of the output
    container, and one of the job's tasks when the job exists."""
    keys = task_keys(plan)
    records: dict[str, Record] = {}
    if cacheable(plan):
        # The run's first call to storage: a dead endpoint must not be a silent minute.
        waiting = Event("cache", f"waiting for storage at {blobs.describe()} (no answer yet)")
        with say_if_slow(sink, waiting):
            records = read_records(plan, blobs)
    cache = Cache(keys, records, md5s=input_md5s(plan))
    if not records:
        return cache
    if retry_transient(lambda: batch.get_job(plan.job.id)) is not None:
        ids = retry_transient(lambda: batch.list_task_ids(plan.job.id))
        cache.in_job = {i.lower() for i in ids}
    cache.listing = retry_transient(lambda: blobs.list_md5(plan.output_container))
    for low in keys:  # upstream first: a task is up to date only if all it needs is
        if cache.current(low):
            cache.up_to_date[low] = keys.ids[low]
    return cache


def _left(out: OutputPlan, listing: Mapping[str, bytes | None], names: list[str]) -> list[str]:
    """The blobs ``out`` left in the output container."""
    path = output_blob_path(out)
    if not (_WILDCARDS & set(out.pattern)):
        return [path] if path in listing else []
    prefix = f"{path.rstrip('/')}/" if path else ""
    last = out.pattern.rsplit("/", 1)[-1]
    return [
        n
        for n in names
        if n.startswith(prefix)
        and n != CACHE_BLOB
        and fnmatch.fnmatchcase(n.rsplit("/", 1)[-1], last)
    ]


def record(
    plan: Plan,
    batch: BatchService,
    blobs: BlobStore,
    cache: Cache,
    missing: Iterable[str] = (),
    *,
    all_succeeded: bool = False,
) -> None:
    """Record every task that succeeded in the job, but those ``missing`` a declared output,
    and keep the records of the tasks that were up to date; written beside the spec and to
    the output container. ``all_succeeded``: the watch saw every task of the job complete
    and none fail, so the job need not be listed to know which succeeded."""
    if not cacheable(plan):
        return
    lacking = {i.lower() for i in missing}
    if all_succeeded:
        succeeded = {t.id.lower() for t in all_tasks(plan)}
    else:
        listed = retry_transient(lambda: batch.list_tasks(plan.job.id, SUCCEEDED))
        succeeded = {t.id.lower() for t in listed}
    listing = retry_transient(lambda: blobs.list_md5(plan.output_container))
    names = sorted(listing)
    keys = cache.keys
    lines = []
    for task in all_tasks(plan):
        low = task.id.lower()
        if low in cache.up_to_date:
            lines.append(_line(cache.records[low]))
        elif low in succeeded and low not in lacking:
            outputs = {
                blob: (listing[blob] or b"").hex()
                for out in task.outputs
                if out.condition != "taskfailure"
                for blob in _left(out, listing, names)
            }
            lines.append(_line(Record(task.id, keys.fingerprints[low], keys.keys[low], outputs)))
    _write(plan, blobs, "".join(lines))


def _line(rec: Record) -> str:
    raw = {"id": rec.id, "fingerprint": rec.fingerprint, "key": rec.key, "outputs": rec.outputs}
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":")) + "\n"


def _write(plan: Plan, blobs: BlobStore, text: str) -> None:
    path = _local_path(plan)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8", "surrogatepass")
    replace_atomically(path, data)  # never through a link planted in .batchflow/
    md5 = hashlib.md5(data, usedforsecurity=False).digest()
    retry_transient(lambda: blobs.upload(plan.output_container, CACHE_BLOB, path, md5))
