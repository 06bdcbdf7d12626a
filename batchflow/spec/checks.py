"""Checks over the whole rendered task set, one task at a time.

Ids must be valid Batch ids and unique case-insensitively after templating; command lines must
fit Batch's 32,768 characters; outputs must stay inside the task's working directory and
single-file outputs of different tasks must not land on the same blob; explicit
dependencies must name existing tasks and not form a cycle. Only the ids are kept while
iterating, so a 100,000-task sweep is checked without holding 100,000 tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from batchflow.spec.context import BATCH_ID, BATCH_ID_RULE, Context
from batchflow.spec.expand import Pending, RenderedTasks, render_id
from batchflow.spec.loader import Where
from batchflow.spec.model import OutputSpec, TaskSource, TaskTemplate
from batchflow.spec.proofs import (
    NOTHING,
    Produced,
    Proof,
    Values,
    blob_name,
    domains,
    escapes,
    file_values,
    prove,
)
from batchflow.spec.templates import Template

MAX_COMMAND = 32_768
MAX_DEPENDS_CHARS = 64_000  # dependsOn.taskIds: total length Batch accepts
PER_KIND = 10  # problems reported per kind before summarising the rest


class _Reporter:
    """Adds problems to the context, at most PER_KIND per kind, then counts the rest."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.seen: Counter[str] = Counter()
        self.where: dict[str, Where] = {}
        self.literal_done: set[int] = set()  # ids of placeholder-free templates checked
        self.blobs: dict[str, str] = {}  # single-file output blob name -> first task writing it
        self.collided: set[int] = set()  # ids of placeholder-free outputs reported colliding

    def add(self, kind: str, path: Where, message: str) -> None:
        self.seen[kind] += 1
        self.where.setdefault(kind, path)
        if self.seen[kind] <= PER_KIND:
            self.ctx.add(path, message)

    def summarise(self) -> None:
        for kind, n in self.seen.items():
            if n > PER_KIND:
                self.ctx.add(self.where[kind], f"... and {n - PER_KIND} more tasks with {kind}")


# batchflow's own blobs in the output container (engine.cache.CACHE_BLOB lives there): an
# output stored there would be overwritten by the cache record, never downloaded, and read
# as the cache by other machines.
STATE_BLOBS = ".batchflow/"


def _reserved(stored: str) -> bool:
    return stored == STATE_BLOBS[:-1] or stored.startswith(STATE_BLOBS)


def _reserved_output(rep: _Reporter, out: OutputSpec, task_id: str, stored: str) -> None:
    """Report an output stored under ``.batchflow/`` (once for a placeholder-free one)."""
    if not out.pattern.names and not out.destination.names:
        if id(out) in rep.literal_done:
            return
        rep.literal_done.add(id(out))
    rep.add(
        "an output stored where batchflow keeps its records",
        out.where,
        f"task '{task_id}': output '{stored}' would be stored under '{STATE_BLOBS}' in the "
        "output container, which batchflow keeps for its own records; give it another name "
        "or destination",
    )


def _collision(rep: _Reporter, first: str, task_id: str, name: str, out: OutputSpec) -> None:
    """Report that tasks ``first`` and ``task_id`` both write the blob ``name``."""
    if not out.pattern.names and not out.destination.names:
        if id(out) in rep.collided:
            return  # the same name for every task: said once
        rep.collided.add(id(out))
    rep.add(
        "an output name another task also writes",
        out.where,
        f"tasks '{first}' and '{task_id}' both write the output '{name}': one would "
        "overwrite the other; put {task.id} or {index} in the pattern or the destination",
    )


def _check_outputs(
    rep: _Reporter,
    t: TaskTemplate,
    task_id: str,
    values: dict[str, str],
    proven: tuple[tuple[bool, bool, bool, bool], ...] = (),
) -> tuple[str, ...]:
    """Check the task's outputs but what ``proven`` says holds for every task (per output:
    its pattern stays inside, its destination does, it collides with nothing, it is not stored
    under ``.batchflow/``); returns the
    blobs it uploads on success (single files)."""
    produced = []
    for i, out in enumerate(t.outputs):
        inside, dest_inside, alone, unreserved = proven[i] if proven else (False,) * 4
        pattern = out.pattern.render(values)
        destination = out.destination.render(values)
        name = blob_name(pattern, destination)
        stored = destination if name is None else name  # the blob, or a wildcard's prefix
        if not unreserved and stored.startswith(STATE_BLOBS[:-1]) and _reserved(stored):
            _reserved_output(rep, out, task_id, stored)
        if name is not None:  # a single file: no other task may write the same blob
            if not alone:
                first = rep.blobs.setdefault(name, task_id)
                if first != task_id:
                    _collision(rep, first, task_id, name, out)
            if out.when != "taskfailure":
                produced.append(name)
        if not inside and _to_check(rep, out.pattern) and escapes(pattern):
            _escape(rep, out, f"task '{task_id}'", "pattern", pattern)
        if not dest_inside and _to_check(rep, out.destination) and escapes(destination):
            _escape(rep, out, f"task '{task_id}'", "destination", destination)
    return tuple(produced)


def _to_check(rep: _Reporter, tmpl: Template) -> bool:
    """Whether this task's value of ``tmpl`` is yet to be checked: always, unless it is the
    same text for every task and was checked already."""
    if tmpl.names:
        return True
    if id(tmpl) in rep.literal_done:
        return False
    rep.literal_done.add(id(tmpl))
    return True


def _escape(rep: _Reporter, out: OutputSpec, label: str, what: str, value: str) -> None:
    rep.add(
        f"an output {what} outside the working directory",
        out.where,
        f"{label}: output {what} '{value}' must stay inside the task's working directory "
        "(no absolute path, no '..')",
    )


def _check_unrendered(rep: _Reporter, t: TaskTemplate) -> None:
    """No task to render (the inputs match nothing): report outputs that leave the working
    directory whatever the placeholders' values, shown with the placeholders in them."""
    for out in t.outputs:
        for what, tmpl in (("pattern", out.pattern), ("destination", out.destination)):
            value = tmpl.render({name: "{" + name + "}" for name in tmpl.names})
            if escapes(value):
                _escape(rep, out, "every task", what, value)


def _label(index: int) -> str:
    return "the final task" if index < 0 else f"task #{index}"


def _check_task(
    rep: _Reporter,
    t: TaskTemplate,
    values: dict[str, str],
    ids: dict[str, int],
    index: int,
    proof: Proof = NOTHING,
) -> tuple[str, tuple[str, ...]]:
    """Render the parts of one task that have rules (not its environment) and check them,
    but what ``proof`` says holds for every task of ``t``; returns its id and the blobs it
    uploads on success.

    ``ids`` maps each lower-cased id seen so far to the number of the task that has it.
    """
    task_id = render_id(t.id, values)
    if not proof.valid_ids and not BATCH_ID.fullmatch(task_id):
        rep.add(
            "an invalid id",
            (*t.where, "id"),
            f"task id '{task_id}' is not valid ({BATCH_ID_RULE})",
        )
    if not proof.unique_ids:
        low = task_id.lower()
        if low in ids:
            rep.add(
                "a duplicate id",
                (*t.where, "id"),
                f"task id '{task_id}' ({_label(index)}) is not unique: {_label(ids[low])} has "
                "the same id (ignoring case)",
            )
        else:
            ids[low] = index
    if not proof.short_command:
        _check_command(rep, t, task_id, values)
    return task_id, _check_outputs(rep, t, task_id, values, proof.outputs)


def _check_command(rep: _Reporter, t: TaskTemplate, task_id: str, values: dict[str, str]) -> None:
    # Most commands are far shorter than the limit whatever their values' quoting: only a
    # command that might not be is rendered to be measured.
    length = t.command.longest(values)
    if length > MAX_COMMAND:
        length = len(t.command.render(values))
    if length > MAX_COMMAND:
        rep.add(
            "a command line that is too long",
            (*t.where, "command"),
            f"task '{task_id}': command line is {length} characters; Batch allows {MAX_COMMAND}",
        )


def _proven(
    t: TaskTemplate,
    produced: Produced,
    tasks: Iterable[Pending],
    seen: Callable[[str, tuple[str, ...]], None],
) -> int:
    """Tasks of ``t`` that every check is proven to pass: only what ``seen`` is told is
    made (ids, and the blobs ``produced`` says from the values); returns their number."""
    count = 0
    id_template = t.id
    for _, values, _ in tasks:
        seen(render_id(id_template, values), produced(values))
        count += 1
    return count


def _check_dependencies(ctx: Context, spec: TaskSource, ids: dict[str, int]) -> None:
    graph: dict[str, tuple[str, ...]] = {}
    for i, item in enumerate(spec.tasks.items):
        for j, dep in enumerate(item.depends_on):
            if dep.lower() not in ids:
                ctx.add((*item.where, "depends_on", j), f"no task has the id '{dep}'")
        graph[ids_key(spec, i).lower()] = tuple(d.lower() for d in item.depends_on)
    cycle = _find_cycle(graph)
    if cycle:
        ctx.add(("tasks", "list"), "dependency cycle: " + " -> ".join(cycle))


def ids_key(spec: TaskSource, index: int) -> str:
    """The rendered id of list item ``index``."""
    return RenderedTasks(spec).task_at(index).id


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str]:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in graph:
        stack: list[tuple[str, Iterable[str]]] = [(start, iter(graph.get(start, ())))]
        path = [start]
        state[start] = state.get(start) or 1
        while stack:
            node, children = stack[-1]
            nxt = next(iter(children), None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(graph.get(nxt, ()))))
                path.append(nxt)
    return []


def _proof(spec: TaskSource, count: int, files: dict[str, Values] | None) -> Proof:
    """What holds for every task of the spec's one template (none to prove with a list, nor
    with a final task: its id and outputs are checked against every other task's)."""
    tasks = spec.tasks
    if tasks.template is None or tasks.final is not None:
        return NOTHING
    if files is None and tasks.mode == "input":
        files = file_values([f.blob for f in spec.inputs])
    return prove(tasks.template, tasks, domains(tasks, count, files), MAX_COMMAND)


def _all(proof: Proof) -> bool:
    return proof.valid_ids and proof.unique_ids and proof.short_command and proof.outputs_done


def check_tasks(
    ctx: Context,
    spec: TaskSource,
    pending: Iterable[Pending] | None = None,
    seen: Callable[[str, tuple[str, ...]], None] | None = None,
    known: tuple[int, dict[str, Values] | None] | None = None,
    bulk: Callable[[TaskTemplate, Proof], bool] | None = None,
) -> int:
    """Render every task once and check it; returns the number of tasks. ``pending`` stands
    in for the spec's own tasks (a workflow step's, made from another step's outputs), and
    ``known`` then says how many there are and what is known of their files' values;
    ``seen`` is told each task's id and the blobs it uploads on success, as checked. What is
    proven for all tasks at once (``proofs``) is not checked per task; where that is all of
    it, ``bulk`` may tell ``seen``'s owner about every task at once instead (True: done)."""
    rep = _Reporter(ctx)
    ids: dict[str, int] = {}
    if pending is None:
        count, files = len(RenderedTasks(spec)), None
    else:
        count, files = known if known is not None else (-1, None)
    proof = _proof(spec, count, files) if count > 0 else NOTHING
    tasks = RenderedTasks(spec).pending() if pending is None else pending
    if _all(proof):
        assert spec.tasks.template is not None
        if seen is None and pending is None:
            return count  # nothing to render: no check is left, nobody needs the ids
        if bulk is not None and bulk(spec.tasks.template, proof):
            return count
        assert proof.produced is not None
        return _proven(spec.tasks.template, proof.produced, tasks, seen or _ignore)
    count = 0
    for index, (template, values, _) in enumerate(tasks):
        task_id, produced = _check_task(rep, template, values, ids, index, proof)
        count += 1
        if seen is not None:
            seen(task_id, produced)
    if not count and spec.tasks.template is not None:
        _check_unrendered(rep, spec.tasks.template)
    final = spec.tasks.final
    if final is not None:
        final_values: dict[str, str] = {}
        _check_task(rep, final, final_values, ids, -1)
        total = sum(len(i) + 1 for i in ids) - len(final_values["task.id"]) - 1
        if total > MAX_DEPENDS_CHARS:
            ctx.add(
                ("tasks", "final"),
                f"the final task depends on {len(ids) - 1} tasks whose ids total {total} "
                f"characters; Batch accepts {MAX_DEPENDS_CHARS}",
            )
    rep.summarise()
    if spec.tasks.mode == "list":
        _check_dependencies(ctx, spec, ids)
    return count


def _ignore(task_id: str, produced: tuple[str, ...]) -> None:
    """A ``seen`` that keeps nothing."""
