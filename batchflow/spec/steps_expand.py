"""Render a workflow's tasks, step after step, lazily like ``RenderedTasks``.

A step's tasks are made as ``tasks`` makes them, then wired to the steps they wait for:
- ``for_each: {outputs: X}``: one task per output file of each task of X, in X's order; it
  gets that file (from the output container) and depends on that one task only, so a chain
  streams.
- ``inputs: {from: [X...]}``: each task gets every output of X (one storageContainerUrl +
  blobPrefix resource file per step, or with a pattern one file each) and depends on all of
  X's tasks, as it does on every task of ``needs``.
Dependency lists longer than Batch accepts (64,000 characters of ids) go through small
"wait" tasks, each depending on a slice of them.

What downstream steps need of a step (its task ids and the files each task produces) is
rendered once per step and kept (``StepIndex``): a 100,000-task step is then read, not
rendered again, by every step after it, by the counts and by the dependency lists.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from typing import Literal, NamedTuple

from batchflow.plan_model import InputFile, OutputPlan, TaskPlan
from batchflow.spec.checks import MAX_DEPENDS_CHARS
from batchflow.spec.expand import Pending, Prepared, RenderedTasks, render_id, render_task
from batchflow.spec.model import LocalFile, StepSpec, TaskSet, TaskSource, TaskTemplate, Workflow
from batchflow.spec.proofs import Proof, blob_name, produced_all
from batchflow.spec.templates import MAX_ID, finish_id

WAIT_COMMAND = "/bin/true"  # a "wait" task only joins dependencies
# Past this many files, the final task gets its tasks' outputs as every blob under their
# common prefix: Batch takes at most 1 MB per request, and each file's URL carries a SAS.
MAX_FINAL_FILES = 1000
# One step's task before rendering, with the ids it depends on.
StepPending = tuple[Pending, tuple[str, ...]]


def _own(step: StepSpec, inputs: tuple[LocalFile, ...]) -> RenderedTasks:
    return RenderedTasks(TaskSet(step.tasks, inputs))


def _file_values(index: int, blob: str, step: str) -> dict[str, str]:
    """Placeholder values for an upstream output file (``{input.path}``: its path among the
    step's outputs); it lands by its name (``{input.name}``) in the working directory."""
    path = blob[len(step) + 1 :]
    name = path.rpartition("/")[2]  # posixpath.basename, without its call: once per file
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
    return values


def produced(task: TaskPlan) -> list[str]:
    """The blobs ``task`` uploads on success, for outputs that name one file."""
    names = []
    for out in task.outputs:
        name = blob_name(out.pattern, out.destination)
        if name is not None and out.condition != "taskfailure":
            names.append(name)
    return names


def _produced_by(t: TaskTemplate, values: dict[str, str]) -> tuple[str, ...]:
    """What ``produced`` says of the task ``t`` renders to, rendering only its outputs."""
    names = []
    for out in t.outputs:
        if out.when == "taskfailure":
            continue
        name = blob_name(out.pattern.render(values), out.destination.render(values))
        if name is not None:
            names.append(name)
    return tuple(names)


def _file_columns(paths: list[str], needed: AbstractSet[str]) -> dict[str, list[str]]:
    """``_file_values`` (or ``expand._input_values``) of each path, a column per value;
    only the ``needed`` ones (a column of 100,000 names is megabytes)."""
    columns = {"input.path": paths}
    if "index" in needed:
        columns["index"] = list(map(str, range(len(paths))))
    if needed & {"input.name", "input.stem", "input.suffix"}:
        names = columns["input.name"] = [p.rpartition("/")[2] for p in paths]  # basename
    # "README", ".bashrc", "file.": all stem, as pathlib says (no suffix)
    if "input.stem" in needed:
        columns["input.stem"] = [
            s if (s := n.rpartition(".")[0]) and not n.endswith(".") else n for n in names
        ]
    if "input.suffix" in needed:
        columns["input.suffix"] = [
            "" if not n.rpartition(".")[0] or n.endswith(".") else n[n.rindex(".") :] for n in names
        ]
    return columns


def _matrix_columns(
    axes: Sequence[tuple[str, Sequence[str]]], needed: AbstractSet[str]
) -> dict[str, list[str]]:
    """The ``needed`` items' values over the product of ``axes`` in ``itertools.product``'s
    order (the first axis slowest), and the index if needed."""
    sizes = [len(values) for _, values in axes]
    columns = {"index": list(map(str, range(math.prod(sizes))))} if "index" in needed else {}
    for i, (key, values) in enumerate(axes):
        if f"item.{key}" in needed:
            inner, outer = math.prod(sizes[i + 1 :]), math.prod(sizes[:i])
            run = list(itertools.chain.from_iterable(itertools.repeat(v, inner) for v in values))
            columns[f"item.{key}"] = run * outer
    return columns


def task_columns(source: TaskSource) -> StepColumns | None:
    """The tasks of a ``tasks:`` spec (not its final task) a column at a time, as
    ``RenderedTasks.prepared`` gives them (None for a list of tasks)."""
    tasks, t = source.tasks, source.tasks.template
    if t is None or tasks.mode not in ("matrix", "input"):
        return None
    needed = {"input.name", *_names(t), *t.id.names}
    files: FileColumns | None = None
    if tasks.mode == "matrix":
        values = _matrix_columns(tasks.matrix, needed)
        count = math.prod(len(axis) for _, axis in tasks.matrix)
    else:
        blobs = [f.blob for f in source.inputs]
        values, count = _file_columns(blobs, needed), len(blobs)
        files = (blobs, values["input.name"], "input")
    values["task.id"] = _ids(t, values, count)
    return StepColumns(t, count, values, files, (), None, t.depends_on)


def _ids(t: TaskTemplate, columns: dict[str, list[str]], count: int) -> list[str]:
    """``render_id`` of each task, from the columns of its values."""
    ids = t.id.render_all(columns, count)
    if t.id.names and max(map(len, ids), default=0) > MAX_ID:
        ids = [finish_id(i) for i in ids]
    return ids


def _names(t: TaskTemplate) -> set[str]:
    """The placeholders a task of ``t`` uses in its command, environment and outputs."""
    names = set(t.command.names)
    for _, value in t.environment:
        names |= value.names
    for o in t.outputs:
        names |= o.pattern.names | o.destination.names
    return names


class StepIndex:
    """A step's task ids, in order, and the blobs each one uploads on success: what the
    steps after it read, kept so that the step is rendered for them once."""

    __slots__ = ("ids", "produced")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.produced: list[tuple[str, ...]] = []

    def add(self, task_id: str, produced: tuple[str, ...]) -> None:
        """Note the next task (``check_tasks`` calls it as it checks each one)."""
        self.ids.append(task_id)
        self.produced.append(produced)


# each task's own file: its blob, its name in the working directory, the container it is in
FileColumns = tuple[list[str], list[str], Literal["input", "output"]]


class StepColumns(NamedTuple):
    """A step's tasks a column at a time, for writers that render them so (``plan --json``):
    what ``prepared`` gives task by task, in the same order."""

    template: TaskTemplate
    size: int  # how many tasks
    values: dict[str, list[str]]  # each placeholder's values, ``task.id`` too
    files: FileColumns | None  # each task's own file (a streamed step's, or an input)
    inputs: tuple[InputFile, ...]  # what every task gets after its own file (a gather's)
    upstream: list[str] | None  # each task's own upstream task (a streamed step's)
    depends: tuple[str, ...]  # what every task depends on after its own upstream task


class WorkflowTasks:
    """Every task of a workflow, step by step: a sized, re-iterable TaskSource."""

    __slots__ = ("_index", "_joins", "inputs", "workflow")

    def __init__(self, workflow: Workflow, inputs: tuple[LocalFile, ...]) -> None:
        self.workflow = workflow
        self.inputs = inputs
        # step name -> (its "wait" tasks, what its tasks depend on): made once, used per task
        self._joins: dict[str, tuple[tuple[TaskPlan, ...], tuple[str, ...]]] = {}
        self._index: dict[str, StepIndex] = {}  # step name -> its ids and produced files

    def count(self, step: StepSpec) -> int:
        """How many tasks ``step`` has (its "wait" tasks not counted; a dynamic step's are
        known only while the run goes: 0 here)."""
        if step.dynamic:
            return 0
        if step.source is None:
            return len(_own(step, self.inputs))
        return sum(len(p) for p in self.index(self.workflow.step(step.source)).produced)

    def index(self, step: StepSpec) -> StepIndex:
        """``step``'s ids and produced files, rendered (ids and outputs only) the first time."""
        found = self._index.get(step.name)
        if found is None:
            # Set only once complete: an index interrupted half-way is never read.
            found = StepIndex()
            for (template, values, _), _ in self.pending(step, files=False):
                found.ids.append(render_id(template.id, values))
                found.produced.append(_produced_by(template, values))
            self._index[step.name] = found
        return found

    def bulk_index(self, step: StepSpec, t: TaskTemplate, proof: Proof) -> StepIndex | None:
        """``step``'s index made a column at a time (None where its values cannot be):
        for a step whose checks are all proven, nothing else of its tasks is needed now."""
        needed = t.id.names | {n for o in t.outputs for n in o.pattern.names | o.destination.names}
        made = self._columns(step, needed)
        if made is None or proof.known is None:
            return None
        columns, count = made
        ids = _ids(t, columns, count)
        index = StepIndex()
        index.ids = ids
        index.produced = produced_all(t, proof.known, {**columns, "task.id": ids}, count)
        return index

    def columns(self, step: StepSpec) -> StepColumns | None:
        """``step``'s tasks a column at a time, once it is indexed (None where its values
        cannot be made so: a list of tasks, a dynamic step)."""
        index = self._index.get(step.name)
        t = step.tasks.template
        made = None if t is None else self._columns(step, {"input.name", *_names(t)})
        if index is None or made is None or t is None:
            return None
        values, count = made
        values["task.id"] = index.ids
        joined = self._joined(step)
        if step.source is not None:
            upstream = self.index(self.workflow.step(step.source))
            owners = [i for i, blobs in zip(upstream.ids, upstream.produced, strict=True)
                      for _ in blobs]  # fmt: skip
            blobs = [b for produced in upstream.produced for b in produced]
            streamed: FileColumns = (blobs, values["input.name"], "output")
            return StepColumns(t, count, values, streamed, (), owners, joined)
        own: FileColumns | None = None
        if step.tasks.mode == "input":
            own = ([f.blob for f in self.inputs], values["input.name"], "input")
        gathered = self._gathered(step)
        return StepColumns(t, count, values, own, gathered, None, joined or t.depends_on)

    def _columns(
        self, step: StepSpec, needed: AbstractSet[str]
    ) -> tuple[dict[str, list[str]], int] | None:
        """The ``needed`` placeholders' values over ``step``'s tasks, in ``pending``'s
        order, and their number (None for a list of tasks and a dynamic step)."""
        tasks = step.tasks
        if step.dynamic:
            return None
        if step.source is not None:
            produced = self.index(self.workflow.step(step.source)).produced
            skip = len(step.source) + 1
            paths = [b[skip:] for blobs in produced for b in blobs]
            return _file_columns(paths, needed), len(paths)
        if tasks.mode == "input":
            return _file_columns([f.blob for f in self.inputs], needed), len(self.inputs)
        if tasks.mode == "matrix":
            count = math.prod(len(values) for _, values in tasks.matrix)
            return _matrix_columns(tasks.matrix, needed), count
        return None

    def indexed(self, step: StepSpec, index: StepIndex) -> None:
        """Keep ``index`` (made while checking all of ``pending(step)``) as the step's."""
        self._index.setdefault(step.name, index)

    def __len__(self) -> int:
        return sum(self.count(s) + len(self.waits(s)) for s in self.workflow.steps)

    def __iter__(self) -> Iterator[TaskPlan]:
        for item in self.prepared():
            yield item if isinstance(item, TaskPlan) else render_task(*item)

    def prepared(self) -> Iterator[TaskPlan | Prepared]:
        """Every task in order: "wait" tasks made, the others as ``render_task``'s
        arguments (for writers that render straight into their own form)."""
        for step in self.workflow.steps:
            yield from self.waits(step)
            yield from self._prepared(step)

    def tasks(self, step: StepSpec) -> Iterator[TaskPlan]:
        """``step``'s tasks, rendered."""
        for prepared in self._prepared(step):
            yield render_task(*prepared)

    def step_prepared(self, step: StepSpec) -> Iterator[Prepared]:
        """``prepared`` of ``step``'s tasks alone (not its "wait" tasks)."""
        return self._prepared(step)

    def _prepared(self, step: StepSpec) -> Iterator[Prepared]:
        """``step``'s tasks before rendering, with the ids of its index when it has one."""
        index = self._index.get(step.name)
        if index is None:
            for (template, values, inputs), depends in self.pending(step):
                yield template, values, inputs, depends, None
            return
        pending = self.pending(step)
        for ((template, values, inputs), depends), task_id in zip(pending, index.ids, strict=True):
            yield template, values, inputs, depends, task_id

    def pending(self, step: StepSpec, *, files: bool = True) -> Iterator[StepPending]:
        """``step``'s tasks before rendering, each with the ids it depends on (none for a
        dynamic step: ``engine.expand`` makes those while the run goes). ``files`` False
        leaves out the upstream files a streamed task gets (for the checks, which render
        only ids, commands and outputs: an InputFile per task costs as much as its values)."""
        if step.dynamic:
            return
        if step.source is not None:
            yield from self._streamed(step, step.source, files)
            return
        gathered = self._gathered(step)
        depends = self._joined(step)
        for item in _own(step, self.inputs).pending():
            yield (item if not gathered else (item[0], item[1], (*item[2], *gathered))), depends

    def _streamed(self, step: StepSpec, source: str, files: bool) -> Iterator[StepPending]:
        template = step.tasks.template
        assert template is not None
        index = 0
        upstream = self.index(self.workflow.step(source))
        joined = self._joined(step)
        for upstream_id, blobs in zip(upstream.ids, upstream.produced, strict=True):
            for blob in blobs:
                values = _file_values(index, blob, source)
                index += 1
                inputs = (InputFile(blob, values["input.name"], "output"),) if files else ()
                yield (template, values, inputs), (upstream_id, *joined)

    def _gathered(self, step: StepSpec) -> tuple[InputFile, ...]:
        if step.pattern is None:
            return tuple(InputFile(f"{name}/", "", "output", True) for name in step.gather)
        files = []
        for name in step.gather:
            for blobs in self.index(self.workflow.step(name)).produced:
                for blob in blobs:
                    if fnmatch.fnmatchcase(posixpath.basename(blob), step.pattern):
                        files.append(InputFile(blob, blob, "output"))
        return tuple(files)

    def _upstream_ids(self, step: StepSpec) -> list[str]:
        ids: list[str] = []
        for name in (*step.gather, *step.needs):
            source = self.workflow.step(name)
            ids.extend(t.id for t in self.waits(source))
            ids.extend(self.index(source).ids)
        return ids

    def _joined(self, step: StepSpec) -> tuple[str, ...]:
        """What each task of ``step`` depends on besides its own input: every task of the
        steps it gathers from or needs, or the "wait" tasks standing for them."""
        return self._join(step)[1]

    def waits(self, step: StepSpec) -> tuple[TaskPlan, ...]:
        """The "wait" tasks of ``step``: none unless its dependency list is too long (or
        the step is dynamic: the engine makes its own)."""
        if step.dynamic:
            return ()
        return self._join(step)[0]

    def _join(self, step: StepSpec) -> tuple[tuple[TaskPlan, ...], tuple[str, ...]]:
        if step.name not in self._joins:
            ids = self._upstream_ids(step) if step.gather or step.needs else []
            waits: tuple[TaskPlan, ...] = ()
            if sum(len(i) + 1 for i in ids) > MAX_DEPENDS_CHARS:
                waits = tuple(
                    TaskPlan(f"{step.name}--wait-{k}", WAIT_COMMAND, depends_on=tuple(part))
                    for k, part in enumerate(_slices(ids, MAX_DEPENDS_CHARS))
                )
            self._joins[step.name] = (waits, tuple(t.id for t in waits) or tuple(ids))
        return self._joins[step.name]


def final_task(spec: TaskSource, tasks: Iterable[TaskPlan]) -> TaskPlan | None:
    """The task that runs after every other one, or None: a gather over ``tasks``, it
    depends on each of them and gets every output they upload on success."""
    if spec.tasks.final is None:
        return None
    ids: list[str] = []
    files: dict[str, InputFile] = {}
    for task in tasks:
        ids.append(task.id)
        for out in task.outputs:
            if out.condition != "taskfailure":
                file = gathered(out)
                files.setdefault(file.blob, file)
    inputs = tuple(files.values())
    if len(inputs) > MAX_FINAL_FILES:  # a resource file each would outgrow a task's body
        inputs = _fewer(inputs)
    return render_task(spec.tasks.final, {}, inputs, tuple(ids))


def _fewer(inputs: tuple[InputFile, ...]) -> tuple[InputFile, ...]:
    """``inputs`` as the folders of wildcard outputs and one prefix common to the files
    named one by one; past ``MAX_FINAL_FILES`` folders, one prefix common to all."""
    under = [f for f in inputs if f.prefix and (not f.blob or f.blob.endswith("/"))]
    if len(under) > MAX_FINAL_FILES:
        under = []
    kept = {f.blob for f in under}
    named = [f.blob for f in inputs if f.blob not in kept]
    return (*under, InputFile(posixpath.commonprefix(named), "", "output", True))


def gathered(out: OutputPlan) -> InputFile:
    """Where an output of a task the final task gathers from lands: by its blob name (as a
    step's outputs land in a gather's working directory), so a task's ``part1.out`` is
    ``part1.out`` there. A file named in full is fetched as one; an optional one, which may
    not exist, and a wildcard's files as every blob under that name or that destination."""
    name = blob_name(out.pattern, out.destination)
    if name is None:
        prefix = out.destination.rstrip("/")
        return InputFile(f"{prefix}/" if prefix else "", "", "output", True)
    name = name.lstrip("/")
    return InputFile(name, "", "output", True) if out.optional else InputFile(name, name, "output")


# The last workflow's tasks, so that ``validate``, ``plan`` and ``run`` in one process share
# its step indexes (one slot: memory stays bounded by one workflow's ids and file names).
_LAST: list[WorkflowTasks] = []


def workflow_tasks(workflow: Workflow, inputs: tuple[LocalFile, ...]) -> WorkflowTasks:
    """The ``WorkflowTasks`` of ``workflow``: the same object for the same (identical)
    workflow and inputs, so what one caller rendered of a step the next one reads."""
    if _LAST and _LAST[0].workflow is workflow and _LAST[0].inputs is inputs:
        return _LAST[0]
    tasks = WorkflowTasks(workflow, inputs)
    _LAST[:] = [tasks]
    return tasks


def _slices(ids: Sequence[str], limit: int) -> Iterator[list[str]]:
    """``ids`` cut into runs whose lengths (plus a separator each) stay within ``limit``."""
    part: list[str] = []
    size = 0
    for task_id in ids:
        if part and size + len(task_id) + 1 > limit:
            yield part
            part, size = [], 0
        part.append(task_id)
        size += len(task_id) + 1
    if part:
        yield part
