"""The spec layer: a YAML file -> a validated, frozen ``Spec``, or a SpecError listing every
problem, each located at ``file:line:col``.

    text --loader--> located Document --schema--> --build--> Spec --checks (every task)--> ok

Nothing here imports azure.* or rich; jsonschema is imported when a spec is validated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from batchflow.errors import Problem, SpecError
from batchflow.spec.model import Spec, TaskSource

__all__ = ["Spec", "load_spec", "read_document"]


MAX_BYTES = 50 * 1024 * 1024  # far above any real spec; /dev/zero must not fill memory


def _read(path: str) -> bytes:
    p = Path(path)
    try:
        with p.open("rb") as fh:  # a pipe (/dev/stdin) is fine, an endless device is not
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) <= MAX_BYTES:
            return raw
        message = f"is larger than {MAX_BYTES // (1024 * 1024)} MB; not a spec"
    except FileNotFoundError:
        message = "no such file"
    except IsADirectoryError:
        message = "is a directory, not a spec file"
    except PermissionError:
        message = "permission denied"
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
    raise SpecError([Problem(path, 0, 0, "", message)])


def load_spec(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    *,
    need_inputs: bool = True,
) -> Spec:
    """Load, check and model the spec at ``path``; ``overrides`` are ``--set k=v`` items.

    ``environ`` supplies ``{env.NAME}`` values (default: the process environment). With
    ``need_inputs`` False an input glob that matches no file is no problem: commands that
    only need the names of what a run created (status, logs, down) work after the inputs
    moved. Raises SpecError carrying every problem found.
    """
    from batchflow.spec.build import apply_overrides, build_spec, build_task_set
    from batchflow.spec.checks import check_tasks
    from batchflow.spec.context import Context
    from batchflow.spec.loader import LoadFailed, parse
    from batchflow.spec.schema import check_schema

    file = os.fspath(path)
    try:
        doc = parse(file, _read(file))
    except LoadFailed as exc:
        raise SpecError([exc.problem]) from None
    spec_path = Path(file).resolve()
    env = os.environ if environ is None else environ
    ctx = Context(doc, spec_path.parent, env, need_inputs=need_inputs)
    ctx.problems.extend(doc.problems + check_schema(doc))
    spec: Spec | None = None
    source: TaskSource | None
    if ctx.problems:  # still check the tasks if their own sections are sound
        source = build_task_set(ctx, overrides, {_section(p) for p in ctx.problems})
    else:
        apply_overrides(ctx, overrides)
        spec = source = build_spec(ctx, spec_path)
    # Problems elsewhere (pool, inputs matching nothing) do not hide the tasks' own.
    if source is not None and not any(_section(p) in ("tasks", "steps") for p in ctx.problems):
        check_tasks(ctx, source)
        if source.workflow is not None:
            from batchflow.spec.steps_check import check_workflow

            check_workflow(ctx, source.workflow, source.inputs)
    if ctx.problems or spec is None:
        # dict.fromkeys: a tasks-level field inherited by many list items is reported once.
        unique = dict.fromkeys(ctx.problems)
        raise SpecError(sorted(unique, key=lambda p: (p.line, p.col)))
    return spec


def _section(problem: Problem) -> str:
    """The top-level key a problem is under (``tasks`` for ``tasks.list[0].id``)."""
    return re.split(r"[.\[]", problem.path, maxsplit=1)[0]
