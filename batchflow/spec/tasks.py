"""The ``tasks`` section -> ``TasksSpec``: compiled templates for each way of making tasks.

Which placeholders a field may use depends on where the task comes from: ``{input.*}`` only
with ``for_each: input``, ``{item.<key>}`` only with a matrix; ``{task.id}`` everywhere except
in the id itself. Everything else is a spec error naming the placeholder.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from batchflow.plan_model import UploadCondition
from batchflow.spec.context import Context, as_str
from batchflow.spec.loader import Where
from batchflow.spec.model import LocalFile, OutputSpec, TaskMode, TasksSpec, TaskTemplate
from batchflow.spec.templates import Template, compile_template

INPUT_NAMES = ("input.name", "input.stem", "input.suffix", "input.path")
MAX_TASKS = 1_000_000
_WHEN: dict[str, UploadCondition] = {
    "success": "tasksuccess",
    "failure": "taskfailure",
    "completion": "taskcompletion",
}
_EMPTY = Template("", ())
_INHERITED = ("environment", "retries", "timeout", "outputs")


def _outputs(ctx: Context, path: Where, names: Collection[str]) -> tuple[OutputSpec, ...]:
    out = []
    for i, item in enumerate(ctx.get(path, [])):
        where = (*path, i)
        if isinstance(item, str):
            pattern = ctx.template(where, "glob", names)
            dest, when, optional = _EMPTY, "success", False
        else:
            pattern = ctx.template((*where, "pattern"), "glob", names)
            dest = ctx.template((*where, "destination"), "raw", names) or _EMPTY
            when = item.get("when", "success")
            optional = item.get("optional", False) is True
        if pattern is not None:
            out.append(OutputSpec(pattern, dest, _WHEN[when], where, optional))
    return tuple(out)


def _task(
    ctx: Context, path: Where, names: Collection[str], default_id: str, fallback: Where | None
) -> TaskTemplate | None:
    """Compile one task's fields; ``fallback`` is where unset inheritable fields come from."""

    def at(key: str) -> Where:
        if fallback is not None and key in _INHERITED and ctx.get((*path, key)) is None:
            return (*fallback, key)
        return (*path, key)

    with_id = (*names, "task.id")
    id_path = (*path, "id")
    if ctx.get(id_path) is None:
        task_id: Template | None = compile_template(default_id, "id", lambda n: True)
    else:
        task_id = ctx.template(id_path, "id", names)
    command = ctx.template((*path, "command"), "shell", with_id)
    env = []
    for key in ctx.get(at("environment"), {}):
        tmpl = ctx.template((*at("environment"), key), "raw", with_id, env=True)
        env.append((key, tmpl or _EMPTY))
    retries = int(ctx.get(at("retries"), 0))
    timeout = ctx.duration(at("timeout"))
    outputs = _outputs(ctx, at("outputs"), with_id)
    depends = tuple(as_str(d) for d in ctx.get((*path, "depends_on"), []))
    if task_id is None or command is None:
        return None
    return TaskTemplate(task_id, command, tuple(env), retries, timeout, outputs, depends, path)


def _matrix(ctx: Context, base: Where) -> tuple[tuple[str, tuple[str, ...]], ...]:
    matrix = ctx.get((*base, "matrix"), {})
    axes = tuple((key, tuple(as_str(v) for v in values)) for key, values in matrix.items())
    total = math.prod(len(v) for _, v in axes)
    if total > MAX_TASKS:
        ctx.add((*base, "matrix"), f"{total} combinations; at most {MAX_TASKS} tasks per spec")
    return axes


def _mode(ctx: Context, base: Where) -> TaskMode:
    for_each = ctx.get((*base, "for_each"))
    if for_each is not None:
        return "outputs" if isinstance(for_each, dict) else "input"
    return "matrix" if ctx.get((*base, "matrix")) is not None else "list"


def _single(ctx: Context, base: Where) -> bool:
    """A step with neither for_each, matrix nor list: one task, made of the step's own keys."""
    return base != ("tasks",) and _mode(ctx, base) == "list" and ctx.get((*base, "list")) is None


def build_tasks(ctx: Context, inputs: tuple[LocalFile, ...], base: Where = ("tasks",)) -> TasksSpec:
    """Compile the ``tasks`` section (or, at ``base``, a step's tasks: the same keys)."""
    mode = _mode(ctx, base)
    matrix = _matrix(ctx, base) if mode == "matrix" else ()
    default_id = "task{index}" if base == ("tasks",) else "{index}"
    template = None
    items: list[TaskTemplate] = []
    if mode in ("input", "outputs"):
        if mode == "input" and not ctx.get(("inputs",)):
            ctx.add((*base, "for_each"), "for_each: input needs an `inputs` list of globs")
        template = _task(ctx, base, (*INPUT_NAMES, "index"), default_id, None)
    elif mode == "matrix":
        names = (*(f"item.{k}" for k, _ in matrix), "index")
        template = _task(ctx, base, names, default_id, None)
    elif _single(ctx, base):
        item = _task(ctx, base, (), "", None)
        items.extend([item] if item is not None else [])
    else:
        for key in ("id", "command"):
            if ctx.get((*base, key)) is not None:
                ctx.add((*base, key), f"`{key}` belongs to each item of `list`", key=True)
        for i in range(len(ctx.get((*base, "list"), []))):
            item = _task(ctx, (*base, "list", i), ("index",), "", base)
            if item is not None:
                items.append(item)
    final = None
    if ctx.get((*base, "final")) is not None:
        final = _task(ctx, (*base, "final"), (), "final", None)
    return TasksSpec(
        mode=mode,
        template=template,
        matrix=matrix,
        items=tuple(items),
        final=final,
        print_stdout=bool(ctx.get((*base, "print_stdout"), False)),
    )
