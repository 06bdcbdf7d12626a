"""A gather sees the outputs of this run's tasks only: what no task declares is deleted.

A gather (``inputs: {from: X}``) stages every blob under ``X/``, the step's own folder in the
output container. A task the plan no longer has (its input was removed, or the upstream file
it was made of is gone: an input split into fewer chunks) left its outputs there in an earlier
run, and the gather would read them as this run's: a total of 10 where the inputs now add up
to 7. So before a gather task is added (for a dynamic step: once every task it gathers is
known), every blob under each gathered step's folder that no task of the current plan declares
is deleted.

Why delete rather than stage each file by its name: a gather of more than ``MAX_FINAL_FILES``
files must use a prefix (Batch takes at most 1 MB per request, and each file's URL carries a
SAS), so naming files would fix small gathers and leave big ones wrong; one rule that holds at
every size is what a user can trust. Deleting also keeps ``X/`` truthful for whoever looks at
it or downloads it, and leaves the gather's task body (and so its fingerprint and cache key)
as it was. ``X/`` is batchflow's own (the README says each step's outputs are stored there),
and a file goes only when no task of the plan could have made it: a wildcard output keeps
every file under its folder whose name it matches, as the cache's records count them
(``engine.cache``), and the recorded outputs of the tasks found up to date are kept whatever
the match says, so no task the cache skips loses what it stands on.

The same matching clears what a wildcard task left last time before it runs again
(``clear_reruns``; ``engine.expand`` for dynamic steps' tasks): its old files match its own
pattern, so only clearing them before it runs tells them from its new ones.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable

from batchflow.engine.bodies import output_blob_path
from batchflow.engine.cache import CACHE_BLOB, Cache
from batchflow.engine.events import Event, EventSink, Stage
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BlobStore
from batchflow.plan_model import Plan, TaskPlan
from batchflow.spec.expand import RenderedTasks
from batchflow.spec.model import StepSpec, TasksSpec
from batchflow.spec.steps_expand import WorkflowTasks

_WILDCARDS = frozenset("*?[")
OWN = CACHE_BLOB.split("/", 1)[0] + "/"  # ".batchflow/"


class Declared:
    """The blobs some tasks may upload: names in full, and for wildcard outputs the folder
    and the pattern a file's name must match (as ``engine.cache`` records what they left)."""

    __slots__ = ("names", "patterns")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.patterns: dict[str, set[str]] = {}  # folder ("<step>/.../") -> name patterns

    def add(self, task: TaskPlan) -> None:
        for out in task.outputs:  # those uploaded on failure too: the gather stages them
            path = output_blob_path(out)
            if _WILDCARDS & set(out.pattern):
                folder = f"{path.rstrip('/')}/" if path else ""
                self.patterns.setdefault(folder, set()).add(out.pattern.rsplit("/", 1)[-1])
            else:
                self.names.add(path)

    def recorded(self, task_id: str, cache: Cache | None) -> None:
        """What the task left when it last succeeded, if the cache finds it up to date."""
        low = task_id.lower()
        if cache is not None and low in cache.up_to_date and low in cache.records:
            self.names.update(cache.records[low].outputs)

    def covers(self, blob: str) -> bool:
        """Whether one of the tasks may have made ``blob`` (or the cache stands on it)."""
        if blob in self.names:
            return True
        name = blob.rsplit("/", 1)[-1]
        found = self.patterns.get("")  # outputs at the container's root (a `tasks:` spec)
        if found and any(fnmatch.fnmatchcase(name, p) for p in found):
            return True
        end = blob.find("/")
        while end != -1:  # every folder above the blob: an output of any may have made it
            found = self.patterns.get(blob[: end + 1])
            if found and any(fnmatch.fnmatchcase(name, p) for p in found):
                return True
            end = blob.find("/", end + 1)
        return False


def declared(tasks: Iterable[TaskPlan], cache: Cache | None = None) -> Declared:
    """What ``tasks`` may upload and, with ``cache``, what those up to date recorded."""
    found = Declared()
    for task in tasks:
        found.add(task)
        found.recorded(task.id, cache)
    return found


def prune(
    plan: Plan,
    blobs: BlobStore,
    step: str,
    tasks: Iterable[TaskPlan],
    cache: Cache | None,
    sink: EventSink,
    stage: Stage = "tasks",
) -> int:
    """Delete every blob under ``<step>/`` that none of ``tasks`` (all of the step's tasks
    in this plan) declares; how many (said as an event of ``stage``)."""
    declared = Declared()
    for task in tasks:
        declared.add(task)
        declared.recorded(task.id, cache)
    return _delete_undeclared(plan, blobs, step, declared, sink, stage)


def _delete_undeclared(
    plan: Plan,
    blobs: BlobStore,
    step: str,
    declared: Declared,
    sink: EventSink,
    stage: Stage = "tasks",
) -> int:
    container, prefix = plan.output_container, f"{step}/"
    listed = retry_transient(lambda: blobs.list_blobs(container, prefix))
    stale = [b for b in listed if not declared.covers(b)]
    for blob in stale:
        retry_transient(lambda b=blob: blobs.delete_blob(container, b))  # type: ignore[misc]
    if stale:
        n = len(stale)
        files = f"{n} file{'s' if n != 1 else ''}"
        sink(Event(stage, f"removed {files} under {prefix} that no task of this run makes"))
    return len(stale)


def prune_static_gathers(plan: Plan, blobs: BlobStore, cache: Cache, sink: EventSink) -> int:
    """``prune`` the steps that steps known before the run gather from (their gather tasks
    are added at once; a dynamic step's gathers are pruned as the run makes them)."""
    tasks = plan.tasks
    if not isinstance(tasks, WorkflowTasks):
        return 0
    steps = tasks.workflow.steps
    gathered = sorted({g for s in steps if not s.dynamic for g in s.gather})
    pruned = 0
    for name in gathered:
        step = tasks.workflow.step(name)
        if not _named_in_full(step):
            pruned += prune(plan, blobs, name, tasks.tasks(step), cache, sink)
            continue
        # Every output a file named in full: the step's index has them all, rendered once
        # for the checks (a 100,000-task step is not rendered again).
        index = tasks.index(step)
        declared = Declared()
        for task_id, names in zip(index.ids, index.produced, strict=True):
            declared.names.update(names)
            declared.recorded(task_id, cache)
        pruned += _delete_undeclared(plan, blobs, name, declared, sink)
    return pruned


def clear_reruns(
    plan: Plan, blobs: BlobStore, staying: set[str], cache: Cache, sink: EventSink
) -> int:
    """Before the tasks of steps with wildcard outputs run again, delete the files they
    left in an earlier run; how many. ``staying``: the lower-cased ids of the tasks the job
    keeps as they are (the others of a step, not up to date, are added now and run).

    Why: a wildcard task's old files lie beside its new ones (under ``<step>/``, or
    ``<step>/<task id>/`` where a step fans out of it) and match its own pattern, so ``prune``
    keeps them as declared, and a gather or a fan-out would read a task's 3 old chunks with
    its 2 new ones. Batch cannot tell which files a task uploaded, so what it may have made
    goes before it runs: a file that a task not run again may also have made (patterns that
    overlap) or stands on (the cache's records) is kept. One listing per step."""
    tasks = plan.tasks
    if isinstance(tasks, RenderedTasks):  # `tasks:`: one step, whose outputs lie anywhere
        wild = _wild(tasks.spec.tasks)  # from the templates: a sweep is not rendered for it
        return _clear_step(plan, blobs, "", tasks, staying, cache, sink) if wild else 0
    if not isinstance(tasks, WorkflowTasks):
        return 0
    cleared = 0
    for step in tasks.workflow.steps:
        if step.wild and not step.dynamic:  # a dynamic step's tasks: engine.expand
            cleared += _clear_step(plan, blobs, step.name, tasks.tasks(step), staying, cache, sink)
    return cleared


def _wild(tasks: TasksSpec) -> bool:
    """Whether an output pattern of ``tasks`` has a wildcard of its own (not one of the
    brackets a placeholder's glob-escaped value brings)."""
    templates = [tasks.template] if tasks.template else list(tasks.items)
    return any(
        _WILDCARDS & set(part)
        for t in templates
        for o in t.outputs
        for part in o.pattern.parts
        if isinstance(part, str)
    )


def _clear_step(
    plan: Plan,
    blobs: BlobStore,
    step: str,
    tasks: Iterable[TaskPlan],
    staying: set[str],
    cache: Cache,
    sink: EventSink,
) -> int:
    listed = _listed(plan, blobs, step)
    if not listed:  # a first run: nothing to clear, and the tasks need not be rendered
        return 0
    rerun, kept = Declared(), Declared()
    for task in tasks:
        key = task.id.lower()
        if key in staying or key in cache.up_to_date:
            kept.add(task)
            kept.recorded(task.id, cache)
        else:
            rerun.add(task)
    return _delete_old(plan, blobs, step, listed, rerun, lambda: kept, sink, "tasks")


def _listed(plan: Plan, blobs: BlobStore, step: str) -> list[str]:
    """The blobs under ``<step>/`` (a ``tasks:`` spec's "": the whole container)."""
    container, prefix = plan.output_container, f"{step}/" if step else ""
    return retry_transient(lambda: blobs.list_blobs(container, prefix))


def clear_own(
    plan: Plan,
    blobs: BlobStore,
    step: str,
    rerun: Declared,
    kept: Callable[[], Declared],
    sink: EventSink,
    stage: Stage = "tasks",
) -> int:
    """Delete the blobs under ``<step>/`` that the tasks about to run (``rerun``) may have
    made and no other task (``kept``, made only when one is found) may have; how many."""
    if not rerun.names and not rerun.patterns:
        return 0
    return _delete_old(plan, blobs, step, _listed(plan, blobs, step), rerun, kept, sink, stage)


def _delete_old(
    plan: Plan,
    blobs: BlobStore,
    step: str,
    listed: list[str],
    rerun: Declared,
    kept: Callable[[], Declared],
    sink: EventSink,
    stage: Stage,
) -> int:
    container, prefix = plan.output_container, f"{step}/" if step else ""
    # batchflow's own (the cache's records) whatever a pattern at the root may match
    found = [b for b in listed if rerun.covers(b) and not b.startswith(OWN)]
    others = kept() if found else None
    old = [b for b in found if others is not None and not others.covers(b)]
    for blob in old:
        retry_transient(lambda b=blob: blobs.delete_blob(container, b))  # type: ignore[misc]
    if old:
        n = len(old)
        files = f"{n} file{'s' if n != 1 else ''}"
        where = f"under {prefix}" if prefix else "in the output container"
        sink(Event(stage, f"removed {files} {where} that tasks run again made last time"))
    return len(old)


def _named_in_full(step: StepSpec) -> bool:
    """Whether each output of ``step``'s tasks is one file named in full, uploaded on
    success: those ``StepIndex.produced`` lists."""
    tasks = step.tasks
    templates = [tasks.template] if tasks.template else list(tasks.items)
    return not step.wild and all(o.when != "taskfailure" for t in templates for o in t.outputs)
