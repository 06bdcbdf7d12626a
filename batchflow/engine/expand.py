"""Dynamic fan-out: the tasks of dynamic steps, added while the run watches.

A dynamic step's tasks are known only as the run goes (see ``spec.steps``):
- one task per file a task of a wild step X uploaded, listed under ``X/<task id>/`` once that
  task succeeded; it depends on that task only, so the chain streams;
- one task per output of a dynamic step's task, as soon as that task is known;
- a step that gathers from or needs dynamic steps: its tasks once all of those are known
  ("settled": every task of a wild source completed and was expanded). Batch dependencies
  name ids, and ids of tasks not yet made cannot be named, so such a step is added only then.
  It depends on every task of those steps *and* of the steps they fan out from: a failed
  upstream task made no downstream tasks, so only depending on it blocks the gather.

Ids are deterministic, ``<step>-<upstream id less its step>-<own id>``, ``{index}`` being the
file's position among that upstream task's files, so a rerun re-derives the same tasks and
adds only those the job lacks. At the start of a rerun, dynamic tasks that failed or never
started are deleted (they are made again, waiting on the right attempts), and tasks whose
definition changed, or that depend on one that did, are replaced when made again.

The cache (``engine.cache``) speaks for dynamic tasks too: an upstream task that is up to
date counts as one that succeeded, its recorded outputs feed the fan-out as a listing would,
and each task made is judged as it is made: an up-to-date one is not added, and what
depends on it loses that dependency. ``foresee`` makes them all from the records alone,
before the run, to tell whether anything at all would run.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import posixpath
from collections.abc import Callable, Iterator

from batchflow.engine.bodies import output_blob_path
from batchflow.engine.cache import Cache
from batchflow.engine.events import Event, EventSink
from batchflow.engine.fingerprint import changed, fingerprint
from batchflow.engine.polling import retry_transient
from batchflow.engine.protocols import BatchService, BlobStore, Json, TaskCounts
from batchflow.engine.prune import Declared, clear_own, declared, prune
from batchflow.engine.tasks import CHUNK, add_chunk
from batchflow.errors import UsageError
from batchflow.plan_model import InputFile, Plan, TaskPlan
from batchflow.spec.checks import MAX_DEPENDS_CHARS
from batchflow.spec.expand import RenderedTasks, render_id, render_task
from batchflow.spec.model import StepSpec, TaskSet
from batchflow.spec.steps_expand import WAIT_COMMAND, WorkflowTasks, _slices, produced
from batchflow.spec.templates import Template, finish_id

# Dynamic tasks a rerun makes again: those that failed, and those that never started (they
# may wait on a task the rerun replaces, or a gather may lack files made since).
REDO = "executionInfo/result eq 'failure' or state eq 'active'"
_WILDCARDS = frozenset("*?[")  # as engine.bodies.output_blob_path tells them


def _file_values(index: int, path: str, blob: str) -> tuple[dict[str, str], InputFile]:
    """Placeholder values for an upstream file (``{input.path}``: its path among what its
    task produced) and where it lands: by its name, in the working directory."""
    name = posixpath.basename(path)
    stem, dot, suffix = name.rpartition(".")
    if not stem or not suffix:
        stem, suffix = name, ""
    values = {
        "index": str(index),
        "input.name": name,
        "input.stem": stem,
        "input.suffix": f"{dot}{suffix}" if suffix else "",
        "input.path": path,
    }
    return values, InputFile(blob, name, "output")


def _local(task_id: str, step: str) -> str:
    """A task id less its step's name (``count-3`` -> ``3``; a one-task step: "")."""
    return task_id[len(step) + 1 :] if task_id.lower().startswith(step.lower() + "-") else ""


class Expander:
    """Makes and adds dynamic steps' tasks; ``poll`` once per watch poll."""

    def __init__(
        self,
        plan: Plan,
        batch: BatchService,
        blobs: BlobStore,
        body: Callable[[TaskPlan], Json],
        sink: EventSink,
        cache: Cache | None = None,
        *,
        dry: bool = False,
    ) -> None:
        """``dry``: make tasks from ``cache`` alone, adding none and asking no service."""
        assert isinstance(plan.tasks, WorkflowTasks)
        self.static = plan.tasks
        self.workflow = plan.tasks.workflow
        self.plan, self.batch, self.blobs, self.body, self.sink = plan, batch, blobs, body, sink
        self.cache, self.dry = cache, dry
        self.cached = 0  # dynamic tasks made that were up to date: not added
        self.uncached = 0  # (dry) dynamic tasks made that a run would add
        steps = self.workflow.steps
        self.dynamic = [s for s in steps if s.dynamic]
        self.prefixes = tuple(f"{s.name.lower()}-" for s in self.dynamic)
        self.names = {s.name.lower() for s in self.dynamic}  # a one-task step's id
        self.settled = {s.name for s in steps if not s.dynamic}
        self.known: dict[str, list[TaskPlan]] = {s.name: [] for s in self.dynamic}
        self.waits: dict[str, list[TaskPlan]] = {s.name: [] for s in self.dynamic}
        self.expanded: dict[str, set[str]] = {s.name: set() for s in self.dynamic}
        self.results: dict[str, str] = {}  # lower id -> result, for tasks of watched steps
        self.existing: dict[str, str] = {}  # lower id -> displayName, dynamic tasks in the job
        self.stale: set[str] = set()  # lower ids replaced in this run
        self.per_step: dict[str, int] = {s.name: 0 for s in self.dynamic}
        self.added = 0
        self._last_completed = -1
        self._made: list[TaskPlan] = []
        self.writers: dict[str, str] = {}  # single-file output blob -> the task making it
        self.rerun = False  # the job had tasks when the run began
        # The wild steps whose tasks' completion decides something: fan-out sources and
        # steps filtered by pattern.
        self.watched = sorted(
            {s.source for s in self.dynamic if s.source and self._step(s.source).wild}
            | {g for s in self.dynamic if s.pattern for g in s.gather if self._step(g).wild}
        )

    def _step(self, name: str) -> StepSpec:
        return self.workflow.step(name)

    @staticmethod
    def owner(task_id: str) -> str:
        """The step a task id names (``<step>-...``, or a one-task step's own name)."""
        return task_id.split("-", 1)[0]

    def owns(self, task_id: str) -> bool:
        """Whether ``task_id`` is (or would be) a task of a dynamic step."""
        key = task_id.lower()
        return key.startswith(self.prefixes) or key in self.names

    @property
    def count(self) -> int:
        """Dynamic tasks known so far ("wait" tasks included): in the job or added now."""
        known = sum(len(self.known[s.name]) + len(self.waits[s.name]) for s in self.dynamic)
        return known - self.cached

    @property
    def finished(self) -> bool:
        """Every dynamic step's tasks are known (and in the job)."""
        return all(s.name in self.settled for s in self.dynamic)

    # -- the start of a run ------------------------------------------------------------------

    def prepare(self, md5s: dict[str, str]) -> None:
        """What the job holds of dynamic steps already; before ``add_missing_tasks``, which
        replaces the static tasks that changed or failed: those are the first stale ones."""
        job = self.plan.job.id
        names = retry_transient(lambda: self.batch.list_task_fingerprints(job))
        if not names:
            return
        self.rerun = True
        recorded = {i.lower(): n for i, n in names.items()}
        redo = retry_transient(lambda: self.batch.list_tasks(job, REDO))
        redo_ids = {t.id.lower() for t in redo}
        failed = {t.id.lower() for t in redo if t.result == "failure"}
        feeding = {u for s in self.dynamic for u in s.upstream if not self._step(u).dynamic}
        for step in self.workflow.steps:
            if step.name not in feeding:
                continue
            for t in self.static.tasks(step):
                key = t.id.lower()
                name = recorded.get(key)
                if name is not None and (changed(name, fingerprint(t, md5s)) or key in failed):
                    self.stale.add(key)
        gone = [i for i in names if self.owns(i) and i.lower() in redo_ids]
        for task_id in gone:
            retry_transient(lambda i=task_id: self.batch.delete_task(job, i))  # type: ignore[misc]
        self.existing = {k: n for k, n in recorded.items() if self.owns(k) and k not in redo_ids}
        if gone:
            n = len(gone)
            self.sink(Event("tasks", f"{n} dynamic task{'s' if n != 1 else ''} to make again"))

    # -- each poll ---------------------------------------------------------------------------

    def poll(self, counts: TaskCounts) -> int:
        """Make the tasks that can be made now and add them; returns how many were added."""
        if self.finished:
            return 0
        if counts.completed != self._last_completed:
            self._last_completed = counts.completed
            self._list_completed()
        self._made = []  # "wait" tasks join it as they are made, before what waits on them
        for step in self.dynamic:  # in an order where each step follows what it waits for
            if step.name not in self.settled:
                start = len(self._made)
                made = self._expand(step)
                self._judge([*self._made[start:], *made])  # before the steps after it
                self.known[step.name].extend(made)  # the steps after it see them now
                self._made.extend(made)
        return self._add(self._made)

    def _judge(self, made: list[TaskPlan]) -> None:
        """Key each task made, in order; note those the cache finds up to date."""
        if self.cache is not None:
            self.cached += sum(self.cache.admit(t) for t in made)

    def _result(self, key: str) -> str | None:
        """How the task ``key`` (lower-cased id) ended: an up-to-date one as a success."""
        if self.cache is not None and key in self.cache.up_to_date:
            return "success"
        return self.results.get(key)

    def _list_completed(self) -> None:
        """One filtered listing: the completed tasks of the watched steps."""
        if not self.watched or self.dry:
            return
        ids = " or ".join(f"id eq '{n}' or startswith(id, '{n}-')" for n in self.watched)
        query = f"state eq 'completed' and ({ids})"
        for t in retry_transient(lambda: self.batch.list_tasks(self.plan.job.id, query)):
            self.results[t.id.lower()] = t.result or "failure"

    def tasks_of(self, name: str) -> list[TaskPlan]:
        """The known tasks of a step (a static step's: all of them)."""
        if name in self.known:
            return self.known[name]
        tasks = list(self.static.tasks(self._step(name)))
        self.known[name] = tasks
        self.waits[name] = list(self.static.waits(self._step(name)))
        return tasks

    def _all_completed(self, name: str) -> bool:
        return all(self._result(t.id.lower()) is not None for t in self.tasks_of(name))

    def _expand(self, step: StepSpec) -> list[TaskPlan]:
        if any(n not in self.settled for n in step.needs):
            return []
        if step.source is not None:
            return self._fanned(step, self._step(step.source))
        ready = all(u in self.settled for u in step.upstream) and all(
            self._all_completed(g) for g in step.gather if step.pattern and self._step(g).wild
        )
        if not ready:
            return []
        self.settled.add(step.name)
        return self._deferred(step)

    def _fanned(self, step: StepSpec, source: StepSpec) -> list[TaskPlan]:
        done = self.expanded[step.name]
        made: list[TaskPlan] = []
        for up in self.tasks_of(source.name):
            key = up.id.lower()
            if key in done:
                continue
            if source.wild:
                result = self._result(key)
                if result is None:
                    continue
                done.add(key)
                if result != "success":
                    continue  # it blocks its own branch: nothing is made of it
                prefix = f"{source.name}/{up.id}/"
                blobs = sorted(self._left_by(key, prefix))
                files = [(b[len(prefix) :], b) for b in blobs]
            else:
                done.add(key)
                files = [(b[len(source.name) + 1 :], b) for b in produced(up)]
            made_ids: dict[str, str] = {}  # lower id -> the file it was made of
            for index, (path, blob) in enumerate(files):
                if not _utf8(blob):
                    raise _not_utf8(step, source.name, f"task {up.id}", path)
                task = self._one(step, source, up, index, path, blob)
                other = made_ids.setdefault(task.id.lower(), path)
                if other != path:  # one id, two tasks: the second never added, but awaited
                    raise _same_id(step, up, other, path, task.id)
                self._check_writes(step, task)
                made.append(task)
        if source.name in self.settled and (
            not source.wild or len(done) == len(self.tasks_of(source.name))
        ):
            self.settled.add(step.name)
        return made

    def _check_writes(self, step: StepSpec, task: TaskPlan) -> None:
        """No two tasks made of files write one blob (validate's rule for the tasks known
        before the run): files of the same name from two upstream tasks (two inputs split
        into ``chunk-aa``) made tasks whose outputs overwrote each other, and a gather read
        whichever ended last, with no word said."""
        for out in task.outputs:
            if _WILDCARDS & set(out.pattern):
                continue  # stored under the task's own folder
            blob = output_blob_path(out)
            first = self.writers.setdefault(blob, task.id)
            if first != task.id:
                raise UsageError(
                    f"step '{step.name}': tasks {first} and {task.id} both write the output "
                    f"{blob!r}: one would overwrite the other; put {{task.id}} in the output's "
                    "name, or make the upstream files' names differ"
                )

    def _left_by(self, key: str, prefix: str) -> list[str]:
        """The files the task ``key`` left under ``prefix``: as recorded, for a task that
        is up to date (what it made then, not what else lies there since)."""
        cache = self.cache
        if cache is not None and key in cache.up_to_date and key in cache.records:
            return [b for b in cache.records[key].outputs if b.startswith(prefix)]
        return self._listed(prefix)

    def _listed(self, prefix: str) -> list[str]:
        if self.dry:
            assert self.cache is not None
            return [b for b in self.cache.listing if b.startswith(prefix)]
        container = self.plan.output_container
        return retry_transient(lambda: self.blobs.list_blobs(container, prefix))

    def _one(
        self, step: StepSpec, source: StepSpec, up: TaskPlan, index: int, path: str, blob: str
    ) -> TaskPlan:
        template = step.tasks.template
        assert template is not None
        values, file = _file_values(index, path, blob)
        own = _local(render_id(template.id, dict(values)), step.name)
        task_id = finish_id("-".join(p for p in (step.name, _local(up.id, source.name), own) if p))
        fixed = dataclasses.replace(template, id=Template(task_id, (task_id,)))
        depends = (up.id, *self._joined(step, step.needs))
        return render_task(fixed, values, (file,), depends)

    def _ids(self, name: str) -> list[str]:
        """Every task a task waiting on step ``name`` must wait for: its tasks and, for a
        dynamic step, those of the steps it fans out from (their failures made no tasks)."""
        step = self._step(name)
        ids = [t.id for t in self.tasks_of(name)]
        ids[:0] = [t.id for t in self.waits[name]]
        if step.dynamic and step.source is not None:
            ids.extend(self._ids(step.source))
        return ids

    def _joined(self, step: StepSpec, names: tuple[str, ...]) -> tuple[str, ...]:
        """The ids a task of ``step`` depends on for the steps ``names``: themselves, or
        "wait" tasks standing for them when there are too many for one task."""
        ids = [i for n in names for i in self._ids(n)]
        if sum(len(i) + 1 for i in ids) <= MAX_DEPENDS_CHARS:
            return tuple(ids)
        if not self.waits[step.name]:
            self.waits[step.name] = [
                TaskPlan(f"{step.name}--wait-{k}", WAIT_COMMAND, depends_on=tuple(part))
                for k, part in enumerate(_slices(ids, MAX_DEPENDS_CHARS))
            ]
            self._made.extend(self.waits[step.name])
        return tuple(t.id for t in self.waits[step.name])

    def _gathered(self, step: StepSpec) -> tuple[InputFile, ...]:
        if step.pattern is None:
            return tuple(InputFile(f"{name}/", "", "output", True) for name in step.gather)
        files = []
        for name in step.gather:
            if self._step(name).wild:
                blobs = sorted(self._listed(f"{name}/"))
            else:
                blobs = [b for t in self.tasks_of(name) for b in produced(t)]
            for blob in blobs:
                if fnmatch.fnmatchcase(posixpath.basename(blob), step.pattern):
                    if not _utf8(blob):
                        raise _not_utf8(step, name, f"step '{name}'", blob)
                    files.append(InputFile(blob, blob, "output"))
        return tuple(files)

    def _deferred(self, step: StepSpec) -> list[TaskPlan]:
        if not self.dry:  # all they hold is known now: what no task of them makes goes
            for name in step.gather:
                tasks = self.tasks_of(name)
                prune(self.plan, self.blobs, name, tasks, self.cache, self.sink, "watch")
        depends = self._joined(step, (*step.gather, *step.needs))
        gathered = self._gathered(step)
        return [
            render_task(template, values, (*inputs, *gathered), depends)
            for template, values, inputs in RenderedTasks(
                TaskSet(step.tasks, self.static.inputs)
            ).pending()
        ]

    # -- adding ------------------------------------------------------------------------------

    def _add(self, made: list[TaskPlan]) -> int:
        """Add what the job lacks, in order, in chunks of 100; a task that changed, or that
        depends on one replaced in this run, is replaced."""
        up_to_date = self.cache.up_to_date if self.cache is not None else {}
        if self.dry:
            self.uncached += sum(1 for t in made if t.id.lower() not in up_to_date)
            return len(made)
        job = self.plan.job.id
        bodies: list[Json] = []
        adding: list[TaskPlan] = []
        for t in made:
            key = t.id.lower()
            if key in up_to_date:
                continue
            body = self.body(t)
            name = self.existing.get(key)
            if name is not None:
                stale_input = any(d.lower() in self.stale for d in t.depends_on)
                if not stale_input and not changed(name, body["displayName"]):
                    continue
                retry_transient(lambda i=t.id: self.batch.delete_task(job, i))  # type: ignore[misc]
                del self.existing[key]
            if self.rerun:  # what waits on a task made again must run again too
                self.stale.add(key)
            bodies.append(body)
            adding.append(t)
        self._clear(adding)
        added = 0
        for start in range(0, len(bodies), CHUNK):
            added += add_chunk(self.batch, job, bodies[start : start + CHUNK])
        for b in bodies:
            step = self.owner(b["id"])
            if step in self.per_step:
                self.per_step[step] += 1
        if added:
            self.added += added
            self.sink(Event("watch", f"added {added} dynamic task{'s' if added != 1 else ''}"))
        return added

    def _clear(self, adding: list[TaskPlan]) -> None:
        """Before tasks of dynamic steps with wildcard outputs run (again), delete what they
        left in an earlier run (``prune.clear_reruns`` does it for the other steps)."""
        for step in self.dynamic:
            if not step.wild:
                continue
            mine = [t for t in adding if self.owner(t.id) == step.name]
            if not mine:
                continue
            ids = {t.id for t in mine}
            known = self.known[step.name]

            def others(known: list[TaskPlan] = known, ids: set[str] = ids) -> Declared:
                return declared((t for t in known if t.id not in ids), self.cache)

            clear_own(self.plan, self.blobs, step.name, declared(mine), others, self.sink, "watch")

    def per_step_json(self) -> list[dict[str, object]]:
        """Each step's task count (a dynamic step's as made in this run) for ``run --json``."""
        return [
            {
                "name": s.name,
                "dynamic": s.dynamic,
                "tasks": len(self.known[s.name]) if s.dynamic else self.static.count(s),
                **({"added_while_running": self.per_step[s.name]} if s.dynamic else {}),
            }
            for s in self.workflow.steps
        ]

    # -- what the rest of the run sees -------------------------------------------------------

    def live_plan(self) -> Plan:
        """``plan`` whose tasks include the dynamic ones known so far (as they grow)."""
        return dataclasses.replace(self.plan, tasks=_Grown(self))


def _utf8(name: str) -> bool:
    """Whether ``name`` is text: a local file name that is not UTF-8 (``caf\\xe9.txt``) is
    read with surrogates, and no URL nor Azure blob name can carry it."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_utf8(step: StepSpec, source: str, made_by: str, path: str) -> UsageError:
    return UsageError(
        f"step '{step.name}': {made_by} made the file {path!r}, whose name is not UTF-8: it "
        "cannot be staged for a task (a resource file's URL, a blob name, is UTF-8); have "
        f"step '{source}' name its files in UTF-8"
    )


def _same_id(step: StepSpec, up: TaskPlan, first: str, second: str, task_id: str) -> UsageError:
    return UsageError(
        # repr: a task's file names may hold newlines and terminal escapes; one inert line
        f"step '{step.name}': the files {first!r} and {second!r} that task {up.id} made both "
        f"make the task id '{task_id}' (Batch ids ignore case, and characters other than "
        "letters, digits, - and _ become _); put {index} in the step's id"
    )


class _Grown:
    """The static tasks, then the dynamic ones known so far: a TaskSource that grows."""

    __slots__ = ("expander",)

    def __init__(self, expander: Expander) -> None:
        self.expander = expander

    def __len__(self) -> int:
        return len(self.expander.static) + self.expander.count

    def __iter__(self) -> Iterator[TaskPlan]:
        e = self.expander
        yield from e.static
        for step in e.dynamic:
            yield from e.waits[step.name]
            yield from e.known[step.name]


def foresee(plan: Plan, batch: BatchService, blobs: BlobStore, cache: Cache) -> Expander | None:
    """The tasks of dynamic steps a run would make, when it would find all of them up to
    date (``cached`` of them; None when one would run, or none are dynamic): made as the run
    makes them, from the records of the up-to-date tasks they come from, on a copy of
    ``cache``."""
    if not any(s.dynamic for s in plan.steps):
        return None
    trial = Expander(plan, batch, blobs, lambda t: {}, lambda e: None, cache.trial(), dry=True)
    nothing = TaskCounts(0, 0, 0, 0, 0)
    while not trial.uncached and trial.poll(nothing):
        pass  # each round makes what the tasks of the last one allow
    return trial if trial.finished and not trial.uncached else None


def steps_json(plan: Plan) -> list[dict[str, object]]:
    """Each step's task count, for a workflow without dynamic steps (``run --json``; the
    expander's ``per_step_json`` for the others): [] for a spec without steps."""
    tasks = plan.tasks
    if not isinstance(tasks, WorkflowTasks):
        return []
    return [
        {"name": s.name, "dynamic": False, "tasks": tasks.count(s)} for s in tasks.workflow.steps
    ]
