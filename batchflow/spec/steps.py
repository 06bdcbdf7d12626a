"""The ``steps`` section -> ``Workflow``: each step's tasks compiled as ``tasks`` would be, then
the graph between steps checked as a whole.

Every task id of a step is ``<step>-<id>`` (a one-task step: ``<step>``) and every output lands
under ``<step>/`` in the output container. Step names hold no ``-``, so ids of two steps can
never meet, and outputs of two steps never share a blob name. Problems found here: unknown
step names (with a suggestion), cycles (named), a ``for_each: {outputs: X}`` whose X declares
no outputs. Where X's outputs have wildcards, the fan-out is dynamic: X's outputs are stored
under ``X/<task id>/`` and the engine adds the downstream tasks as X's tasks complete.
"""

from __future__ import annotations

import dataclasses
import re

from batchflow.spec.context import Context, as_str
from batchflow.spec.loader import Where
from batchflow.spec.model import LocalFile, OutputSpec, StepSpec, TasksSpec, TaskTemplate, Workflow
from batchflow.spec.proofs import blob_name
from batchflow.spec.templates import Slot, Template

_WILDCARD = re.compile(r"[*?\[]")


def _prefixed(text: str, t: Template) -> Template:
    return Template(text + t.text, (text, *t.parts))


def _own_task(t: TaskTemplate, step: str) -> TaskTemplate:
    """``t`` with its id under the step's name and its outputs under ``<step>/``."""
    task_id = _prefixed(f"{step}-", t.id) if t.id.text else Template(step, (step,))
    outputs = tuple(
        dataclasses.replace(
            o,
            destination=_prefixed(f"{step}/", o.destination)
            if o.destination.text
            else Template(step, (step,)),
        )
        for o in t.outputs
    )
    depends = tuple(f"{step}-{d}" for d in t.depends_on)
    return dataclasses.replace(t, id=task_id, outputs=outputs, depends_on=depends)


def _own_tasks(tasks: TasksSpec, step: str) -> TasksSpec:
    return dataclasses.replace(
        tasks,
        template=_own_task(tasks.template, step) if tasks.template else None,
        items=tuple(_own_task(i, step) for i in tasks.items),
    )


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(as_str(v) for v in value) if isinstance(value, list) else (as_str(value),)


def _step(ctx: Context, name: str, inputs: tuple[LocalFile, ...]) -> StepSpec:
    from batchflow.spec.tasks import build_tasks

    base: Where = ("steps", name)
    has_list = ctx.get((*base, "list")) is not None
    if not has_list and ctx.get((*base, "command")) is None:
        ctx.add(base, "missing required key 'command'")
    tasks = _own_tasks(build_tasks(ctx, inputs, base), name)
    source = ctx.get((*base, "for_each", "outputs"))
    download = ctx.get((*base, "download"))
    return StepSpec(
        name=name,
        tasks=tasks,
        source=as_str(source) if source is not None else None,
        gather=_names(ctx.get((*base, "inputs", "from"))),
        pattern=ctx.get((*base, "inputs", "pattern")),
        needs=_names(ctx.get((*base, "needs"))),
        download=bool(download) if download is not None else True,  # see _downloads
        where=base,
    )


def _references(ctx: Context, step: StepSpec) -> list[tuple[Where, str]]:
    """(where, step name) of each step this one names."""
    refs: list[tuple[Where, str]] = []
    if step.source:
        refs.append(((*step.where, "for_each", "outputs"), step.source))
    from_path: Where = (*step.where, "inputs", "from")
    many = isinstance(ctx.get(from_path), list)
    for i, name in enumerate(step.gather):
        refs.append(((*from_path, i) if many else from_path, name))
    refs.extend(((*step.where, "needs", i), name) for i, name in enumerate(step.needs))
    return refs


def _check_references(ctx: Context, steps: dict[str, StepSpec]) -> None:
    lowered = {n.lower(): n for n in steps}
    for name in steps:
        if lowered[name.lower()] != name:
            ctx.add(
                ("steps", name),
                f"step names '{lowered[name.lower()]}' and '{name}' differ only in case: "
                "Batch task ids ignore case",
                key=True,
            )
    for step in steps.values():
        for where, ref in _references(ctx, step):
            if ref == step.name:
                ctx.add(where, f"step '{ref}' cannot wait for itself")
            elif ref not in steps:
                import difflib  # only when a name is unknown

                close = difflib.get_close_matches(ref, list(steps), n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else f" (steps: {', '.join(steps)})"
                ctx.add(where, f"no step is named '{ref}'{hint}")


def _order(ctx: Context, steps: dict[str, StepSpec]) -> list[str]:
    """The steps in an order where each comes after all it waits for (spec order otherwise);
    a cycle is reported, naming its steps."""
    graph = {n: [u for u in s.upstream if u in steps and u != n] for n, s in steps.items()}
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = placed

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for up in graph[name]:
            if state.get(up) == 1:
                cycle = [*path[path.index(up) :], up]
                ctx.add(("steps", up), "steps wait for each other: " + " -> ".join(cycle))
            elif up not in state:
                visit(up, [*path, up])
        state[name] = 2
        order.append(name)

    for name in steps:
        if name not in state:
            visit(name, [name])
    return order


def _fixed_outputs(step: StepSpec) -> list[OutputSpec]:
    """The outputs another step can rely on: uploaded on success (not only on failure)."""
    tasks = step.tasks
    templates = [tasks.template] if tasks.template else list(tasks.items)
    return [o for t in templates for o in t.outputs if o.when != "taskfailure"]


def _check_sources(ctx: Context, steps: dict[str, StepSpec]) -> None:
    for step in steps.values():
        if step.source not in steps or step.source is None:
            continue
        where = (*step.where, "for_each", "outputs")
        if not _fixed_outputs(steps[step.source]):
            ctx.add(where, f"step '{step.source}' declares no outputs to make tasks of")
        if step.gather:
            ctx.add(where, "give for_each: {outputs: ...} or inputs: {from: ...}, not both")


def _is_wild(step: StepSpec) -> bool:
    """Whether a task of ``step`` may upload files whose names are known only once it ran:
    a wildcard's, or an optional output's (whether it is there at all)."""
    for out in _fixed_outputs(step):
        if out.optional:
            return True
        text = out.pattern.render({n: "x" for n in out.pattern.names})
        if blob_name(text, "") is None or _WILDCARD.search(text):
            return True
    return False


def _by_task(step: StepSpec) -> StepSpec:
    """``step`` with its outputs under ``<step>/<task id>/``: another step makes one task per
    file each of its tasks produced, so which task produced a file must be told by its name.
    Outputs uploaded only on failure stay under ``<step>/``: no task is made of them."""
    name = step.name

    def moved(o: OutputSpec) -> OutputSpec:
        if o.when == "taskfailure":
            return o
        d = o.destination
        first = d.parts[0] if d.parts else ""
        assert isinstance(first, str) and first.startswith(name)  # as _own_task made it
        rest = (first[len(name) :],) if first[len(name) :] else ()
        parts = (f"{name}/", Slot("task.id", str), *rest, *d.parts[1:])
        return dataclasses.replace(
            o, destination=Template(f"{name}/{{task.id}}{d.text[len(name) :]}", parts)
        )

    def task(t: TaskTemplate) -> TaskTemplate:
        return dataclasses.replace(t, outputs=tuple(moved(o) for o in t.outputs))

    tasks = step.tasks
    return dataclasses.replace(
        step,
        tasks=dataclasses.replace(
            tasks,
            template=task(tasks.template) if tasks.template else None,
            items=tuple(task(i) for i in tasks.items),
        ),
    )


def _dynamic(steps: dict[str, StepSpec], order: list[str]) -> dict[str, StepSpec]:
    """Mark the steps whose outputs have wildcards (``wild``) and the steps whose tasks are
    known only during the run (``dynamic``): one task per file of a wild step, a gather
    filtering a wild step's files by pattern, and every step after one of those."""
    out = dict(steps)
    for name in order:
        s = out[name]
        wild = _is_wild(s)
        ups = [out[u] for u in s.upstream if u in out and u != name]
        src = out.get(s.source) if s.source else None
        dynamic = (
            (src is not None and (src.wild or src.dynamic))
            or any(u.dynamic for u in ups)
            or (s.pattern is not None and any(out[g].wild for g in s.gather if g in out))
        )
        out[name] = dataclasses.replace(s, wild=wild, dynamic=dynamic)
    sources = {s.source for s in out.values() if s.source and s.dynamic}
    return {n: _by_task(s) if n in sources and s.wild else s for n, s in out.items()}


def _downloads(steps: dict[str, StepSpec], given: dict[str, bool]) -> dict[str, StepSpec]:
    """Steps download their outputs when the spec says so; by default, those nothing
    else consumes and that declare some (a step that only orders has none to download)."""
    consumed = {u for s in steps.values() for u in (*((s.source,) if s.source else ()), *s.gather)}
    return {
        n: dataclasses.replace(s, download=given.get(n, n not in consumed and _declares(s)))
        for n, s in steps.items()
    }


def _declares(step: StepSpec) -> bool:
    """Whether a task of ``step`` declares an output (on success or failure)."""
    tasks = step.tasks
    templates = [tasks.template] if tasks.template else list(tasks.items)
    return any(t.outputs for t in templates)


def build_workflow(ctx: Context, inputs: tuple[LocalFile, ...]) -> Workflow | None:
    """Compile the ``steps`` section (None when the spec has ``tasks`` instead)."""
    section = ctx.get(("steps",))
    if section is None:
        if ctx.get(("tasks",)) is None:
            ctx.add((), "missing required key 'tasks' (or 'steps')")
        return None
    if ctx.get(("tasks",)) is not None:
        ctx.add(("tasks",), "give either tasks or steps, not both", key=True)
    steps = {name: _step(ctx, name, inputs) for name in section}
    given = {
        n: bool(ctx.get(("steps", n, "download")))
        for n in steps
        if ctx.get(("steps", n, "download")) is not None
    }
    steps = _downloads(steps, given)
    _check_references(ctx, steps)
    _check_sources(ctx, steps)
    order = _order(ctx, steps)
    steps = _dynamic(steps, order)
    return Workflow(tuple(steps[n] for n in order))
