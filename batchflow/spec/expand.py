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
from dataclasses import dataclass

from batchflow.plan_model import InputFile, OutputPlan, TaskPlan
from batchflow.spec.model import Spec, TaskTemplate
from batchflow.spec.templates import Template, finish_id

_NO_ENV: Mapping[str, str] = {}


def render_id(template: Template, values: Mapping[str, str]) -> str:
    """A task id from its template; only ids with placeholders are shortened to fit."""
    rendered = template.render(values)
    return finish_id(rendered) if template.names else rendered


def render_task(
    t: TaskTemplate,
    values: dict[str, str],
    inputs: tuple[InputFile, ...] = (),
    depends_on: tuple[str, ...] = (),
) -> TaskPlan:
    """One TaskPlan from its template and the per-task ``values`` (updated with task.id)."""
    task_id = render_id(t.id, values)
    values["task.id"] = task_id
    env = {k: v.render(values) for k, v in t.environment} if t.environment else _NO_ENV
    outputs = tuple(
        OutputPlan(o.pattern.render(values), o.destination.render(values), o.when)
        for o in t.outputs
    )
    return TaskPlan(
        id=task_id,
        command=t.command.render(values),
        inputs=inputs,
        environment=env,
        max_retries=t.retries,
        timeout_s=t.timeout_s,
        outputs=outputs,
        depends_on=depends_on or t.depends_on,
    )


@dataclass(frozen=True)
class RenderedTasks:
    """The spec's tasks (not the final one) as a sized, re-iterable, indexable TaskSource."""

    spec: Spec

    def __len__(self) -> int:
        tasks = self.spec.tasks
        if tasks.mode == "input":
            return len(self.spec.inputs)
        if tasks.mode == "matrix":
            return math.prod(len(values) for _, values in tasks.matrix)
        return len(tasks.items)

    def __iter__(self) -> Iterator[TaskPlan]:
        tasks = self.spec.tasks
        if tasks.mode == "matrix":
            keys = [f"item.{k}" for k, _ in tasks.matrix]
            combos = itertools.product(*(values for _, values in tasks.matrix))
            for index, combo in enumerate(combos):
                yield self._matrix_task(index, keys, combo)
        else:
            for index in range(len(self)):
                yield self.task_at(index)

    def _matrix_task(self, index: int, keys: list[str], combo: tuple[str, ...]) -> TaskPlan:
        template = self.spec.tasks.template
        assert template is not None
        values = dict(zip(keys, combo, strict=True))
        values["index"] = str(index)
        return render_task(template, values)

    def task_at(self, index: int) -> TaskPlan:
        """The task at ``index`` (0-based), rendered on its own."""
        tasks = self.spec.tasks
        if not 0 <= index < len(self):
            raise IndexError(index)
        if tasks.mode == "list":
            return render_task(tasks.items[index], {"index": str(index)})
        if tasks.mode == "matrix":
            combo: list[str] = []
            rest = index
            for _, values in reversed(tasks.matrix):
                rest, pos = divmod(rest, len(values))
                combo.append(values[pos])
            keys = [f"item.{k}" for k, _ in tasks.matrix]
            return self._matrix_task(index, keys, tuple(reversed(combo)))
        return self._input_task(index)

    def _input_task(self, index: int) -> TaskPlan:
        template = self.spec.tasks.template
        assert template is not None
        f = self.spec.inputs[index]
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
        return render_task(template, values, inputs=(InputFile(f.blob, name),))


def final_task(spec: Spec, all_ids: tuple[str, ...]) -> TaskPlan | None:
    """The task that runs after every other one, or None."""
    if spec.tasks.final is None:
        return None
    return render_task(spec.tasks.final, {}, depends_on=all_ids)
