"""Stage 6: download outputs, gather each task's stdout, report failed tasks."""

from __future__ import annotations

import bisect
import fnmatch
import functools
import itertools
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from batchflow.disk import STATE_DIR
from batchflow.engine.bodies import output_blob_path
from batchflow.engine.cache import CACHE_BLOB
from batchflow.engine.downloads import MANIFEST, Manifest, sweep_partials
from batchflow.engine.events import Event, EventSink
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BatchService, BlobStore, TaskInfo
from batchflow.engine.tasks import all_tasks, dependents
from batchflow.errors import BackendError, FailedTask, UsageError
from batchflow.plan_model import OutputPlan, Plan
from batchflow.redact import redact, redact_task_output

STDERR_TAIL_LINES = 10
TAIL_BYTES = 8 << 10  # a stderr tail: enough for its last lines, however big the file
STDOUT_BYTES = 64 << 10  # each task's stdout printed at the end (the quickstart's print)
MAX_STDERR_TAILS = 20
FAILED_FILTER = "executionInfo/result eq 'failure'"
COMPLETED = "state eq 'completed'"
_WILDCARDS = frozenset("*?[")  # as engine.bodies.output_blob_path tells them


@dataclass(frozen=True)
class TaskOutput:
    """One task's standard output, as the quickstart prints it."""

    task_id: str
    node_id: str
    stdout: str


@dataclass(frozen=True)
class MissingOutput:
    """A declared output of a task that matched no file (Batch uploads nothing, silently)."""

    task_id: str
    pattern: str


@dataclass(frozen=True)
class Collected:
    """What the collect stage gathered."""

    downloaded: tuple[Path, ...]
    refused: tuple[str, ...]  # blob names that would have landed outside the download dir
    failed: tuple[FailedTask, ...]
    outputs: tuple[TaskOutput, ...]
    missing: tuple[MissingOutput, ...] = ()  # declared, not optional, and no file matched
    blocked: tuple[str, ...] = ()  # tasks that never ran: they wait on failed ones


def safe_destination(root: Path, blob: str) -> Path | None:
    """Where ``blob`` lands under ``root``, or None if it would land anywhere else."""
    parts = PurePosixPath(blob).parts
    if not parts or blob.startswith("/") or any(p in ("..", ".", "") for p in parts):
        return None
    base = root.resolve()
    dest = base.joinpath(*parts).resolve()
    return dest if dest.is_relative_to(base) and dest != base else None


def read_tail(
    batch: BatchService,
    job_id: str,
    task_id: str,
    name: str,
    limit: int,
    scrub: Callable[[str], str] = redact,
) -> str:
    """The last ``limit`` bytes of a task file at most (one ranged read after its size),
    decoded and passed through ``scrub``; a line cut at the start of the range is dropped;
    "" if absent."""
    try:
        size = batch.task_file_size(job_id, task_id, name)
        start = max(0, size - limit)
        raw = batch.read_task_file(job_id, task_id, name, start, size - start) if size else b""
    except BackendError:
        return ""
    if start and b"\n" in raw:
        raw = raw.split(b"\n", 1)[1]
    return scrub(raw.decode("utf-8", "replace"))


def _tail(batch: BatchService, job_id: str, task_id: str, name: str, lines: int) -> str:
    text = read_tail(batch, job_id, task_id, name, TAIL_BYTES)
    return "\n".join(text.splitlines()[-lines:])


def _stdout(batch: BatchService, job_id: str, task_id: str) -> str:
    # The task's own output, as it wrote it: only secrets batchflow knows are masked.
    text = read_tail(batch, job_id, task_id, "stdout.txt", STDOUT_BYTES, redact_task_output)
    return text.rstrip("\n")


def failed_tasks(plan: Plan, batch: BatchService) -> list[FailedTask]:
    """The job's failed tasks with exit code, failure category and the tail of stderr (for
    the first ``MAX_STDERR_TAILS``: a sweep where everything failed needs a few examples,
    not one request per task)."""
    infos = retry_transient(lambda: batch.list_tasks(plan.job.id, FAILED_FILTER))
    return [
        FailedTask(
            task_id=t.id,
            exit_code=t.exit_code,
            category=t.failure_category or "usererror",
            message=redact(t.failure_message or t.failure_code or f"exit code {t.exit_code}"),
            stderr_tail=_tail(batch, plan.job.id, t.id, "stderr.txt", STDERR_TAIL_LINES)
            if i < MAX_STDERR_TAILS
            else "",
        )
        for i, t in enumerate(infos)
    ]


def task_outputs(plan: Plan, batch: BatchService, workers: int) -> list[TaskOutput]:
    """Every task's stdout.txt, in the plan's order."""
    listed: dict[str, TaskInfo] = {
        t.id: t for t in retry_transient(lambda: batch.list_tasks(plan.job.id))
    }
    ids = [t.id for t in plan.tasks if t.id in listed]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        texts = list(pool.map(lambda i: _stdout(batch, plan.job.id, i), ids))
    return [
        TaskOutput(i, listed[i].node_id or "", text) for i, text in zip(ids, texts, strict=True)
    ]


def _checked_manifest(plan: Plan, blobs: BlobStore, pairs: list[tuple[str, Path]]) -> Manifest:
    """The download manifest, once sure no download would overwrite a file batchflow did not
    write; files already holding the blob's content are fine (compared only if needed)."""
    assert plan.download_dir is not None
    root = plan.download_dir
    if root.exists() and not root.is_dir():
        raise UsageError(f"download: {root} exists and is not a directory")
    _refuse_files_in_the_way(root, pairs)
    manifest = Manifest(plan.spec_path.resolve().parent / STATE_DIR / MANIFEST)
    theirs = set(manifest.foreign(dest for _, dest in pairs))
    if theirs:
        remote = retry_transient(lambda: blobs.list_md5(plan.output_container))
        incoming = {d: (remote.get(n) or b"").hex() or None for n, d in pairs if d in theirs}
        manifest.refuse([d for d in sorted(theirs) if not manifest.ours(d, incoming[d])])
    return manifest


def _refuse_files_in_the_way(root: Path, pairs: list[tuple[str, Path]]) -> None:
    """A file where a download needs a folder (``out/two`` for ``out/two/a.up``) is the
    user's: refused before anything is written, as a file a download would overwrite is
    (writing under it raised FileExistsError, an unexpected error)."""
    base, seen = root.resolve(), set()
    for name, dest in pairs:
        for folder in dest.parents:
            if folder == base or folder in seen:
                break
            seen.add(folder)
            if folder.exists() and not folder.is_dir():
                raise UsageError(
                    f"download: {folder} is a file, where outputs go into a folder of that "
                    f"name (such as {name!r}); move it, or set download: to another "
                    "directory, then run again; nothing was downloaded"
                )


def _matched(out: OutputPlan, names: Sequence[str], listed: set[str]) -> bool:
    """Whether the output container holds a blob ``out`` uploaded. A wildcard pattern is
    matched loosely (a blob under its prefix whose name matches the pattern's last part):
    where Batch puts the directories a ``**`` crossed is not worth second-guessing."""
    path = output_blob_path(out)
    if not (_WILDCARDS & set(out.pattern)):
        return path in listed
    prefix = f"{path.rstrip('/')}/" if path else ""
    last = out.pattern.rsplit("/", 1)[-1]
    start = bisect.bisect_left(names, prefix)
    for name in itertools.islice(names, start, None):
        if not name.startswith(prefix):
            break
        if fnmatch.fnmatchcase(name.rsplit("/", 1)[-1], last):
            return True
    return False


_APPLIES = {
    "tasksuccess": ("success",),
    "taskfailure": ("failure",),
    "taskcompletion": ("success", "failure"),
}


def missing_outputs(
    plan: Plan, batch: BatchService, names: Sequence[str], ran: Collection[str] | None = None
) -> list[MissingOutput]:
    """The declared outputs, not marked optional, of the tasks that ran to a result their
    upload condition covers, that match no blob of the output container (sorted names).
    ``ran``: the (lower-cased) ids of the tasks the run ran, when the watch saw every one
    succeed; their results are then known without listing the job's tasks."""
    if ran is not None:
        results: dict[str, str | None] = dict.fromkeys(ran, "success")
    else:
        results = {
            t.id.lower(): t.result
            for t in retry_transient(lambda: batch.list_tasks(plan.job.id, COMPLETED))
        }
    listed = set(names)
    missing = []
    for task in all_tasks(plan):
        result = results.get(task.id.lower())
        for out in task.outputs:
            if out.optional or result not in _APPLIES[out.condition]:
                continue
            if not _matched(out, names, listed):
                missing.append(MissingOutput(task.id, out.pattern))
    return missing


def download_outputs(
    plan: Plan, blobs: BlobStore, sink: EventSink, workers: int, names: Sequence[str] | None
) -> tuple[list[Path], list[str]]:
    """Download ``names`` (every blob of the output container; None: list them here) into
    the download directory, after checking that no file there would be overwritten that
    batchflow did not download."""
    if plan.download_dir is None:
        return [], []
    sweep_partials(plan.download_dir)  # what a run killed mid-download left behind
    if names is None:  # ``collect`` passes the listing it just made: one listing, not two
        names = retry_transient(lambda: blobs.list_blobs(plan.output_container))
    if (wanted := plan.download_prefixes) is not None:  # a workflow: the marked steps only
        names = [n for n in names if n.startswith(wanted)]
    names = [n for n in names if n != CACHE_BLOB]  # batchflow's own record, not an output
    pairs, refused = [], []
    for name in names:
        dest = safe_destination(plan.download_dir, name)
        if dest is None:
            refused.append(name)
        else:
            pairs.append((name, dest))
    manifest = _checked_manifest(plan, blobs, pairs)
    sink(Event("collect", f"downloading {len(pairs)} outputs", 0, len(pairs)))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(
                    retry_transient,
                    functools.partial(blobs.download, plan.output_container, name, dest),
                )
                for name, dest in pairs
            ]
            for i, (fut, (_, dest)) in enumerate(zip(futures, pairs, strict=True), 1):
                fut.result()
                manifest.record(dest)
                sink(Event("collect", f"downloaded {i} of {len(pairs)}", i, len(pairs)))
    finally:
        manifest.save()  # also after an interruption: what was written is ours next time
    return [dest for _, dest in pairs], refused


def collect(
    plan: Plan,
    batch: BatchService,
    blobs: BlobStore,
    sink: EventSink,
    workers: int = 16,
    ran: Collection[str] | None = None,
) -> Collected:
    """Outputs downloaded and checked against what the tasks declared, stdout gathered
    (specs with print_stdout), failures and the tasks they blocked listed. ``ran``: as
    ``missing_outputs`` takes it."""
    declared = any(t.outputs for t in all_tasks(plan))
    names: list[str] = []
    if declared or plan.download_dir is not None:
        names = sorted(retry_transient(lambda: blobs.list_blobs(plan.output_container)))
    downloaded, refused = download_outputs(plan, blobs, sink, workers, names)
    missing = missing_outputs(plan, batch, names, ran) if declared else []
    outputs = task_outputs(plan, batch, workers) if plan.print_stdout else []
    failed = failed_tasks(plan, batch)
    if failed:  # a task the spec no longer has (its input removed since) is not the run's
        spec = {t.id.lower() for t in all_tasks(plan)}
        failed = [f for f in failed if f.task_id.lower() in spec]
    ids = {f.task_id.lower(): f.task_id for f in failed}
    blocked = [i for k, i in dependents(plan, ids).items() if k not in ids]
    return Collected(
        tuple(downloaded),
        tuple(refused),
        tuple(failed),
        tuple(outputs),
        tuple(missing),
        tuple(blocked),
    )
