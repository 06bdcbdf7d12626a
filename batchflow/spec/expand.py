"""Render a spec's tasks lazily: ``len()`` is known up front, tasks are made while iterating.

A matrix is a product indexed by position (``task_at``), so 100,000 combinations cost the
memory of one task at a time. Ids are made valid before anything else is rendered, because
``{task.id}`` may be used by the command, the environment and the outputs.
"""

from __future__ import annotations

import itertools
import math
import posixpath
from collections.abc import Iterator, Mapping

from batchflow.plan_model import InputFile, OutputPlan, TaskPlan
from batchflow.spec.model import LocalFile, TaskSource, TaskTemplate
from batchflow.spec.templates import MAX_ID, Template, finish_id

_NO_ENV: Mapping[str, str] = {}
# One task before rendering: its template, its placeholder values, the input it gets.
Pending = tuple[TaskTemplate, dict[str, str], tuple[InputFile, ...]]
# ``render_task``'s arguments: a Pending, the ids the task depends on (() for its template's
# own) and its id when already rendered (None: render it).
Prepared = tuple[TaskTemplate, dict[str, str], tuple[InputFile, ...], tuple[str, ...], str | None]


def render_id(template: Template, values: dict[str, str]) -> str:
    """A task id from its template (only ids with placeholders are shortened to fit);
    ``values`` gains ``task.id``, which the task's other fields may use."""
    task_id = template.render(values)
    if template.names and len(task_id) > MAX_ID:
        task_id = finish_id(task_id)
    values["task.id"] = task_id
    return task_id


def known_id(template: Template, values: dict[str, str], task_id: str | None) -> str:
    """``render_id``, unless the id is known already (``task_id``)."""
    if task_id is None:
        return render_id(template, values)
    values["task.id"] = task_id
    return task_id


def render_task(
    t: TaskTemplate,
    values: dict[str, str],
    inputs: tuple[InputFile, ...] = (),
    depends_on: tuple[str, ...] = (),
    task_id: str | None = None,
) -> TaskPlan:
    """One TaskPlan from its template and the per-task ``values``; ``task_id``: its id as
    ``render_id`` made it already."""
    task_id = known_id(t.id, values, task_id)
    env = {k: v.render(values) for k, v in t.environment} if t.environment else _NO_ENV
    outputs = tuple(
        [OutputPlan(o.pattern.render(values), o.destination.render(values), o.when,
                    o.optional)
         for o in t.outputs]
    )  # fmt: skip
    # Positional, in TaskPlan's field order: this runs once per task.
    return TaskPlan(
        task_id, t.command.render(values), inputs, env, t.retries, t.timeout_s, outputs,
        depends_on or t.depends_on,
    )  # fmt: skip


def _input_values(index: int, f: LocalFile) -> tuple[dict[str, str], InputFile]:
    name = posixpath.basename(f.blob)
    stem, dot, suffix = name.rpartition(".")
    if not stem or not suffix:  # "README", ".bashrc", "file.": all stem, as pathlib says
        stem, suffix = name, ""
    values = {
        "index": str(index),
        "input.name": name,
        "input.stem": stem,
        "input.suffix": f"{dot}{suffix}" if suffix else "",
        "input.path": f.blob,
    }
    return values, InputFile(f.blob, name)


class RenderedTasks:
    """The spec's tasks (not the final one) as a sized, re-iterable, indexable TaskSource."""

    __slots__ = ("spec",)

    def __init__(self, spec: TaskSource) -> None:
        self.spec = spec

    def __len__(self) -> int:
        tasks = self.spec.tasks
        if tasks.mode == "input":
            return len(self.spec.inputs)
        if tasks.mode == "matrix":
            return math.prod(len(values) for _, values in tasks.matrix)
        return len(tasks.items)

    def __iter__(self) -> Iterator[TaskPlan]:
        for prepared in self.prepared():
            yield render_task(*prepared)

    def prepared(self) -> Iterator[Prepared]:
        """Each task as ``render_task``'s arguments, in order (for writers that render
        straight into their own form)."""
        for template, values, inputs in self.pending():
            yield template, values, inputs, (), None

    def pending(self) -> Iterator[Pending]:
        """Each task's template and values, in order, before rendering (for the checks)."""
        tasks = self.spec.tasks
        if tasks.mode == "matrix":
            assert tasks.template is not None
            keys = [f"item.{k}" for k, _ in tasks.matrix]
            combos = itertools.product(*(values for _, values in tasks.matrix))
            for index, combo in enumerate(combos):
                values = dict(zip(keys, combo, strict=True))
                values["index"] = str(index)
                yield tasks.template, values, ()
        else:
            for index in range(len(self)):
                yield self._pending_at(index)

    def _pending_at(self, index: int) -> Pending:
        tasks = self.spec.tasks
        if tasks.mode == "list":
            return tasks.items[index], {"index": str(index)}, ()
        assert tasks.template is not None
        if tasks.mode == "matrix":
            combo: list[str] = []
            rest = index
            for _, axis in reversed(tasks.matrix):
                rest, pos = divmod(rest, len(axis))
                combo.append(axis[pos])
            keys = [f"item.{k}" for k, _ in tasks.matrix]
            values = dict(zip(keys, reversed(combo), strict=True))
            values["index"] = str(index)
            return tasks.template, values, ()
        values, input_file = _input_values(index, self.spec.inputs[index])
        return tasks.template, values, (input_file,)

    def task_at(self, index: int) -> TaskPlan:
        """The task at ``index`` (0-based), rendered on its own."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        return render_task(*self._pending_at(index))
