"""``batchflow plan SPEC``: what a run would create, upload and add. Touches nothing.

``--json`` writes the whole plan; tasks are streamed one by one as they are rendered, so a
100,000-task sweep never sits in memory. rich is imported only for the readable summary.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from json.encoder import encode_basestring
from typing import IO, Any

from batchflow.errors import SpecError
from batchflow.plan import build_plan
from batchflow.plan_model import InputFile, Plan, PoolPlan, StepPlan, TaskPlan, TaskSource
from batchflow.spec import load_spec
from batchflow.spec.context import is_utf8
from batchflow.spec.expand import Prepared, RenderedTasks, known_id
from batchflow.spec.model import TaskTemplate
from batchflow.spec.steps_expand import StepColumns, WorkflowTasks, task_columns
from batchflow.spec.templates import Template, is_plain

SHOWN_COMMANDS = 5
_CHUNK = 1000  # tasks per write
REDACTED = "<from the environment>"
_s = encode_basestring  # a JSON string literal, as json.dumps(ensure_ascii=False) writes it
SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


def _env(environment: Mapping[str, str], secret: frozenset[str]) -> dict[str, str]:
    return {k: REDACTED if k in secret else v for k, v in environment.items()}


def _input_json(i: InputFile) -> dict[str, Any]:
    """An input; one from the output container (a workflow step's) says so."""
    if i.source == "input":
        return {"blob": i.blob, "path": i.path}
    return {"blob": i.blob, "path": i.path, "container": "output", "prefix": i.prefix}


def task_json(task: TaskPlan, secret: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A TaskPlan as plain JSON data; ``secret`` environment values are redacted."""
    return {
        "id": task.id,
        "command": task.command,
        "inputs": [_input_json(i) for i in task.inputs],
        "environment": _env(task.environment, secret),
        "max_retries": task.max_retries,
        "timeout_s": task.timeout_s,
        "outputs": [
            {"pattern": o.pattern, "destination": o.destination, "condition": o.condition}
            for o in task.outputs
        ],
        "depends_on": list(task.depends_on),
    }


def _inputs_text(inputs: tuple[InputFile, ...]) -> str:
    """The items of ``task_json``'s "inputs", as JSON text."""
    return ", ".join(
        [
            f'{{"blob": {_s(i.blob)}, "path": {_s(i.path)}}}'
            if i.source == "input"
            else f'{{"blob": {_s(i.blob)}, "path": {_s(i.path)}, "container": "output", '
            f'"prefix": {"true" if i.prefix else "false"}}}'
            for i in inputs
        ]
    )


def task_text(task: TaskPlan, secret: frozenset[str] = frozenset()) -> str:
    """``json.dumps(task_json(task, secret))``, written by hand: it runs once per task."""
    inputs = _inputs_text(task.inputs)
    env = ", ".join(
        [f"{_s(k)}: {_s(REDACTED if k in secret else v)}" for k, v in task.environment.items()]
    )
    outputs = ", ".join(
        [
            f'{{"pattern": {_s(o.pattern)}, "destination": {_s(o.destination)}, '
            f'"condition": {_s(o.condition)}}}'
            for o in task.outputs
        ]
    )
    timeout = "null" if task.timeout_s is None else str(task.timeout_s)
    depends = ", ".join([_s(d) for d in task.depends_on]) if task.depends_on else ""
    return (
        f'{{"id": {_s(task.id)}, "command": {_s(task.command)}, "inputs": [{inputs}], '
        f'"environment": {{{env}}}, "max_retries": {task.max_retries}, '
        f'"timeout_s": {timeout}, "outputs": [{outputs}], "depends_on": [{depends}]}}'
    )


def _json_chars(value: str) -> str:
    """``value`` inside a JSON string: escaped as ``encode_basestring`` does, one character at
    a time, so a text's escaping is its pieces' escapings joined."""
    return encode_basestring(value)[1:-1]


def _escaping(quote: Callable[[str], str]) -> Callable[[str], str]:
    """A slot's quoting, then the JSON string's escaping."""
    if quote is str:  # raw
        return _json_chars
    return lambda value: encode_basestring(quote(value))[1:-1]


# A slot of a task's JSON pattern: the value's name, its quoting and JSON escaping, and the
# texts already made of values that repeat across tasks (a matrix item's; None: not kept).
_JsonSlot = tuple[str, Callable[[str], str], dict[str, str] | None]


class _TemplateText:
    """``task_text(render_task(t, ...))`` for the tasks of one template ``t``, rendered
    straight into JSON: the whole object is one ``str.format`` pattern (the command's,
    environment's and outputs' templates inlined, their literal text escaped for JSON once),
    filled per task with each placeholder's value quoted as its template would and escaped
    for JSON (a matrix item's once per value), plus the id, inputs and dependencies. No
    TaskPlan is made."""

    __slots__ = ("pattern", "slots", "t")

    def __init__(self, t: TaskTemplate, secret: frozenset[str]) -> None:
        self.t = t
        pieces: list[str] = []
        self.slots: list[_JsonSlot] = []

        def text(value: str) -> None:  # literal JSON text
            pieces.append(value.replace("{", "{{").replace("}", "}}"))

        def string(template: Template) -> None:  # a JSON string made of ``template``
            text('"')
            for part in template.parts:
                if isinstance(part, str):
                    text(_json_chars(part))
                else:
                    pieces.append(f"{{{3 + len(self.slots)}}}")
                    cached: dict[str, str] | None = {} if part.name.startswith("item.") else None
                    self.slots.append((part.name, _escaping(part.quote), cached))
            text('"')

        text('{"id": ')
        pieces.append("{0}")
        text(', "command": ')
        string(t.command)
        text(', "inputs": [')
        pieces.append("{1}")
        text('], "environment": {')
        for i, (key, value) in enumerate(t.environment):
            text((", " if i else "") + f"{_s(key)}: ")
            if key in secret:
                text(_s(REDACTED))
            else:
                string(value)
        timeout = "null" if t.timeout_s is None else str(t.timeout_s)
        text(f'}}, "max_retries": {t.retries}, "timeout_s": {timeout}, "outputs": [')
        for i, o in enumerate(t.outputs):
            text((", " if i else "") + '{"pattern": ')
            string(o.pattern)
            text(', "destination": ')
            string(o.destination)
            text(f', "condition": {_s(o.when)}}}')
        text('], "depends_on": [')
        pieces.append("{2}")
        text("]}")
        self.pattern = "".join(pieces)

    def text(
        self,
        values: dict[str, str],
        inputs: tuple[InputFile, ...],
        depends_on: tuple[str, ...],
        task_id: str | None,
    ) -> str:
        task_id = known_id(self.t.id, values, task_id)
        depends = depends_on or self.t.depends_on
        args = [_s(task_id), _inputs_text(inputs) if inputs else "", ", ".join(map(_s, depends))]
        for name, escape, cache in self.slots:
            value = values[name]
            if cache is None:
                # Most values are plain: as they are for any quoting and in JSON ("-x": a
                # file name's slot writes "./-x")
                args.append(value if is_plain(value) and value[0] != "-" else escape(value))
            else:
                done = cache.get(value)
                if done is None:
                    done = cache[value] = escape(value)
                args.append(done)
        return self.pattern.format(*args)


def _task_texts(tasks: TaskSource, secret: frozenset[str]) -> Iterator[str]:
    """``task_text`` of each task, rendered straight into JSON where the source allows."""
    for chunk in _task_chunks(tasks, secret):
        yield from chunk


def _task_chunks(tasks: TaskSource, secret: frozenset[str]) -> Iterator[list[str]]:
    """``_task_texts`` in lists of up to ``_CHUNK``, as they are written."""
    if isinstance(tasks, WorkflowTasks):
        writers: dict[int, _TemplateText] = {}
        for step in tasks.workflow.steps:
            waits = [task_text(wait, secret) for wait in tasks.waits(step)]
            if waits:
                yield waits
            columns = tasks.columns(step)
            if columns is None:
                yield from _chunked(_texts(tasks.step_prepared(step), secret, writers))
            else:
                yield from _column_texts(_TemplateText(columns.template, secret), columns)
    elif isinstance(tasks, RenderedTasks):
        columns = task_columns(tasks.spec)
        if columns is None:
            yield from _chunked(_texts(tasks.prepared(), secret, {}))
        else:
            yield from _column_texts(_TemplateText(columns.template, secret), columns)
    else:
        yield from _chunked(task_text(task, secret) for task in tasks)


def _chunked(texts: Iterator[str]) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(texts, _CHUNK)):
        yield chunk


def _texts(
    items: Iterable[Prepared], secret: frozenset[str], writers: dict[int, _TemplateText]
) -> Iterator[str]:
    writer: _TemplateText | None = None
    for t, values, inputs, depends_on, task_id in items:
        if writer is None or writer.t is not t:  # a step's tasks share one template
            writer = writers.get(id(t))
            if writer is None:
                writer = writers[id(t)] = _TemplateText(t, secret)
        yield writer.text(values, inputs, depends_on, task_id)


def _column_texts(writer: _TemplateText, step: StepColumns) -> Iterator[list[str]]:
    """``writer.text`` of each task of ``step``, made a column (of ``_CHUNK`` tasks) at a
    time: each field of every task, then every task's JSON, a list per chunk."""
    every = _inputs_text(step.inputs)
    depends = ", ".join(map(_s, step.depends))
    for start in range(0, step.size, _CHUNK):
        end = min(start + _CHUNK, step.size)
        ids = list(map(_s, step.values["task.id"][start:end]))
        inputs = _own_inputs(step, start, end, every)
        if step.upstream is None:
            after = [depends] * (end - start)
        else:
            tail = f", {depends}" if depends else ""
            after = [f"{_s(u)}{tail}" for u in step.upstream[start:end]]
        args = [ids, inputs, after]
        for name, escape, cache in writer.slots:
            column = step.values[name][start:end]
            if cache is None:
                args.append(column if _all_plain(column) else _escaped(escape, column))
            else:
                for value in set(column).difference(cache):
                    cache[value] = escape(value)
                args.append(list(map(cache.__getitem__, column)))
        yield list(map(writer.pattern.format, *args))


# Values every quoting and JSON leave as they are (templates' is_plain), one a line.
_PLAIN_LINES = re.compile(r"[A-Za-z0-9_@%+:,./-]+(?:\n[A-Za-z0-9_@%+:,./-]+)*").fullmatch


def _all_plain(column: list[str]) -> bool:
    """Whether every value of ``column`` is plain and none starts with "-" (a file name's
    slot writes "./-x"): one scan of them all, not a call per value."""
    lines = "\n".join(column)
    return bool(_PLAIN_LINES(lines)) and not lines.startswith("-") and "\n-" not in lines


def _escaped(escape: Callable[[str], str], column: list[str]) -> list[str]:
    return [v if is_plain(v) and v[0] != "-" else escape(v) for v in column]


def _own_inputs(step: StepColumns, start: int, end: int, every: str) -> list[str]:
    """The "inputs" of tasks ``start`` to ``end`` of ``step``, as JSON text: each one's own
    file, then what every task gets."""
    if step.files is None:
        return [every] * (end - start)
    blobs, names, source = step.files
    tail = f", {every}" if every else ""
    kind = ', "container": "output", "prefix": false}' if source == "output" else "}"
    return [
        f'{{"blob": {_s(b)}, "path": {_s(n)}{kind}{tail}'
        for b, n in zip(blobs[start:end], names[start:end], strict=True)
    ]


def _pool_json(pool: PoolPlan, secret: frozenset[str]) -> dict[str, Any]:
    st = pool.start_task
    return {
        "id": pool.id,
        "vm_size": pool.vm_size,
        "image": asdict(pool.image),
        "dedicated": pool.dedicated,
        "spot": pool.spot,
        "slots_per_node": pool.slots_per_node,
        "autoscale_formula": pool.autoscale_formula,
        "autoscale_interval_s": pool.autoscale_interval_s,
        "start_task": None
        if st is None
        else {
            "command": st.command,
            "inputs": [{"blob": i.blob, "path": i.path} for i in st.inputs],
            "environment": _env(st.environment, secret),
            "elevated": st.elevated,
            "wait_for_success": st.wait_for_success,
            "max_retries": st.max_retries,
        },
    }


def _head_json(plan: Plan, secret: frozenset[str]) -> dict[str, Any]:
    from batchflow.engine.outlook import outlook

    job = plan.job
    seen = outlook(plan)
    return {
        "name": plan.name,
        "spec_path": str(plan.spec_path),
        "containers": {"input": plan.input_container, "output": plan.output_container},
        "uploads": [
            {"path": str(u.local_path), "blob": u.blob, "size": u.size, "md5": u.md5.hex()}
            for u in plan.uploads
        ],
        "pool": _pool_json(plan.pool, secret),
        "job": {
            "id": job.id,
            "pool_id": job.pool_id,
            "uses_dependencies": job.uses_dependencies,
            "timeout_s": job.timeout_s,
            "final_task": task_json(job.final_task, secret) if job.final_task else None,
        },
        "download_dir": str(plan.download_dir) if plan.download_dir else None,
        "print_stdout": plan.print_stdout,
        "cleanup": asdict(plan.cleanup),
        "task_count": len(plan.tasks),
        # False: dynamic steps add tasks as the run goes, and ``task_count`` is a lower bound
        "task_count_exact": not _dynamic_steps(plan),
        **({"steps": [_step_json(s) for s in plan.steps]} if plan.steps else {}),
        **({"cache": seen.to_json()} if seen else {}),
    }


def _step_json(step: StepPlan) -> dict[str, Any]:
    return {
        "name": step.name,
        "task_count": "dynamic" if step.dynamic else step.task_count,
        "for_each_outputs_of": step.source,
        "gathers": list(step.gather),
        "gathers_pattern": step.pattern,
        "needs": list(step.needs),
        "download": step.download,
    }


def write_json(plan: Plan, out: IO[str], secret: frozenset[str] = frozenset()) -> None:
    """Write ``plan`` as one JSON object, streaming its ``tasks`` list; the environment
    variables named in ``secret`` are shown redacted."""
    head_json = _head_json(plan, secret)
    head = json.dumps(head_json, ensure_ascii=False)
    if not is_utf8(head):  # undecodable bytes in the spec's path: escaped, JSON stays valid
        head = json.dumps(head_json)
    out.write(head[:-1] + ', "tasks": [')
    sep = "\n"
    for chunk in _task_chunks(plan.tasks, secret):
        out.write(sep + ",\n".join(chunk))
        sep = ",\n"
    out.write("\n]}\n")


def _cleanup_text(plan: Plan) -> str:
    c = plan.cleanup
    deleted = [name for name, on in (("job", c.job), ("pool", c.pool), ("inputs", c.inputs)) if on]
    when = "after any run" if c.always else "after a successful run"
    return f"delete {', '.join(deleted)} {when}" if deleted else "keep everything"


def _rows(plan: Plan) -> list[tuple[str, str]]:
    pool, job = plan.pool, plan.job
    nodes = f"{pool.dedicated} dedicated, {pool.spot} spot"
    if pool.autoscale_formula:
        nodes = "autoscale formula"
    total = sum(u.size for u in plan.uploads)
    rows = [
        ("containers", f"{plan.input_container} (inputs), {plan.output_container} (outputs)"),
        ("uploads", f"{len(plan.uploads)} files, {total:,} bytes"),
        ("pool", f"{pool.id}: {pool.vm_size}, {pool.image.offer}/{pool.image.sku}, {nodes}"),
        ("job", job.id + (" (with task dependencies)" if job.uses_dependencies else "")),
        ("tasks", _tasks_text(plan)),
    ]
    if job.final_task:
        rows.append(("final task", job.final_task.id))
    rows.extend(_cache_rows(plan))
    rows.append(("download", str(plan.download_dir or "-")))
    rows.append(("cleanup", _cleanup_text(plan)))
    return rows


def _dynamic_steps(plan: Plan) -> list[str]:
    return [s.name for s in plan.steps if s.dynamic]


def _tasks_text(plan: Plan) -> str:
    """The tasks known now; a dynamic step's are added as the run goes: named, not counted."""
    dynamic = _dynamic_steps(plan)
    known = f"{len(plan.tasks):,}"
    return f"{known} + dynamic ({', '.join(dynamic)})" if dynamic else known


def _cache_rows(plan: Plan) -> list[tuple[str, str]]:
    """What a run would do with the tasks, when earlier runs here recorded any."""
    from batchflow.engine.outlook import outlook
    from batchflow.engine.tasks import named

    seen = outlook(plan)
    if seen is None:
        return []
    rows = [
        (
            "cached",
            f"{len(seen.up_to_date):,} up to date: skipped if their outputs are still in "
            f"{plan.output_container}",
        )
    ]
    for label, ids in (
        ("changed, re-run", seen.changed),
        ("re-run, upstream changed", seen.upstream_changed),
        ("never succeeded, run", seen.new),
    ):
        if ids:
            rows.append((f"{len(ids):,} {label}", named(ids)))
    for step, waits in seen.pending:  # a dynamic step's tasks not made yet
        rows.append((f"{step}: dynamic", f"more tasks appear as {waits} runs"))
    return rows


def _summary(plan: Plan) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text(), not str: file names like "[/]" would otherwise be read as rich markup.
    console = Console()
    table = Table(title=Text(f"plan for {plan.name} ({plan.spec_path.name})"), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in _rows(plan):
        table.add_row(name, Text(value))
    commands = Table("task id", "command line", title=f"first {SHOWN_COMMANDS} tasks")
    for i, task in enumerate(plan.tasks):
        if i == SHOWN_COMMANDS:
            break
        commands.add_row(Text(task.id), Text(task.command))
    # Rendered to text first and written here: rich would meet a closed pipe itself and exit 1.
    with console.capture() as captured:
        console.print(table)
        if plan.steps:
            from batchflow.commands.plan_steps import steps_tree

            console.print(steps_tree(plan.steps))
        console.print(commands)
    sys.stdout.write(captured.get())


def _drop_stdout() -> None:
    """The reader went away (``plan | head``): send what is still buffered to /dev/null, so
    that the interpreter's flush at exit does not fail again (Python docs, "Note on SIGPIPE")."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (captured output): nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _check_local(plan: Plan, spec: str) -> None:
    """The autoscale formula evaluated once (in process, whatever the target). On the local
    target, the spec against the emulator's images and VM sizes (its shipped
    lists: nothing is started). On Azure ``run`` asks the account, as plan touches nothing."""
    from batchflow.commands import _preflight
    from batchflow.commands._target import choose

    formula = _preflight.formula_problem(
        spec, plan.pool.autoscale_formula, plan.pool.slots_per_node
    )
    if formula is not None:
        raise SpecError([formula])
    if choose(None, os.environ)[0] == "local":
        _preflight.check(plan, spec, _preflight.local_images(), _preflight.local_sizes())


def plan_cmd(spec: str, overrides: Sequence[str], as_json: bool) -> int:
    """Validate ``spec`` and show its plan; a closed pipe ends it quietly (exit 141)."""
    model = load_spec(spec, overrides)
    plan = build_plan(model)
    _check_local(plan, spec)
    try:
        if as_json:
            write_json(plan, sys.stdout, model.secret_env)
        else:
            _summary(plan)
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        return SIGPIPE_EXIT
    return 0
