"""Schema-valid data -> the frozen ``Spec`` model, collecting every problem on the way."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchflow.disk import STATE_DIR
from batchflow.plan_model import CleanupPlan, ImageRef, KeepLogs
from batchflow.spec.context import Context, as_str, is_utf8
from batchflow.spec.images import ALIASES
from batchflow.spec.model import LocalFile, PoolSpec, Spec, StartTaskSpec, TaskSet, Workflow
from batchflow.spec.tasks import build_tasks

_CONTAINER = re.compile(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]")
_AUTOSCALE_MIN, _AUTOSCALE_MAX = 5 * 60, 168 * 3600


_NOT_UTF8 = "not valid UTF-8 text (Batch takes only UTF-8)"


def apply_overrides(ctx: Context, overrides: Sequence[str]) -> None:
    """``--set k=v``: v replaces a declared param, typed like the value it replaces."""
    from batchflow.spec.scalars import typed_like

    params = ctx.doc.data.get("params")
    declared = sorted(params) if isinstance(params, dict) else []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            ctx.add(("params",), f"--set {item!r}: expected KEY=VALUE")
            continue
        if key not in declared:
            known = ", ".join(declared) or "none"
            ctx.add(("params",), f"--set {key}: no such param (the spec declares: {known})")
            continue
        assert isinstance(params, dict)
        value, why = typed_like(params[key], text) if is_utf8(text) else (None, _NOT_UTF8)
        if why:
            shown = text if len(text) <= 40 else text[:40] + "..."
            shown = shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            ctx.add(("params", key), f"--set {key}={shown}: {why}")
            continue
        params[key] = value
        ctx.literal.add(f"params.{key}")  # typed on a command line: no {env.X} expansion


def _bind_params(ctx: Context) -> tuple[tuple[str, Any], ...]:
    params = ctx.get(("params",), {})
    out = []
    for name, value in params.items():
        if isinstance(value, str) and f"params.{name}" not in ctx.literal:
            tmpl = ctx.template(("params", name), "raw", (), env=True)
            value = tmpl.render({}) if tmpl and not tmpl.names else value
        ctx.bound[f"params.{name}"] = as_str(value)
        out.append((name, value))
    return tuple(out)


def _image(ctx: Context) -> ImageRef:
    image = ctx.get(("pool", "image"))
    if isinstance(image, str):
        return ALIASES[image]
    return ImageRef(
        image["publisher"],
        image["offer"],
        image["sku"],
        image.get("version", "latest"),
        image["node_agent_sku"],
    )


def _start_task(ctx: Context) -> StartTaskSpec | None:
    base = ("pool", "start_task")
    if ctx.get(base) is None:
        return None
    command = ctx.template((*base, "command"), "shell", ())
    env = ctx.get((*base, "environment"), {})
    rendered_env = []
    for key in env:
        tmpl = ctx.template((*base, "environment", key), "raw", (), env=True)
        rendered_env.append((key, tmpl.render({}) if tmpl else ""))
    files = ctx.files((*base, "files"))
    names = [f.local.name for f in files]
    for name in sorted({n for n in names if names.count(n) > 1}):
        ctx.add(
            (*base, "files"),
            f"two files are named '{name}': the start task gets each "
            "file by its name in one directory",
        )
    return StartTaskSpec(
        command=command.render({}) if command else "",
        files=files,
        environment=tuple(rendered_env),
        elevated=bool(ctx.get((*base, "elevated"), False)),
        wait_for_success=bool(ctx.get((*base, "wait_for_success"), True)),
        retries=int(ctx.get((*base, "retries"), 0)),
    )


def _nodes(ctx: Context) -> tuple[int, int]:
    nodes = ctx.get(("pool", "nodes"))
    autoscale = ctx.get(("pool", "autoscale"))
    if nodes is not None and autoscale is not None:
        ctx.add(("pool", "autoscale"), "give either nodes or autoscale, not both")
    if nodes is None:
        if autoscale is None:
            ctx.add(("pool",), "missing required key 'nodes' (or 'autoscale')")
        return 0, 0
    if "spot" in nodes and "low_priority" in nodes:
        ctx.add(
            ("pool", "nodes", "low_priority"), "give spot or low_priority (its old name), not both"
        )
    dedicated = int(nodes.get("dedicated", 0))
    spot = int(nodes.get("spot", nodes.get("low_priority", 0)))
    if dedicated + spot == 0:
        ctx.add(("pool", "nodes"), "the pool has no nodes: set dedicated or spot above 0")
    return dedicated, spot


def _pool(ctx: Context, name: str) -> PoolSpec:
    dedicated, spot = _nodes(ctx)
    interval = ctx.duration(("pool", "autoscale", "interval"))
    if interval is not None and not _AUTOSCALE_MIN <= interval <= _AUTOSCALE_MAX:
        ctx.add(("pool", "autoscale", "interval"), "must be between 5m and 168h")
    return PoolSpec(
        id=ctx.batch_id(("pool", "id"), str(ctx.get(("pool", "id"), f"{name}-pool")), "pool id"),
        vm_size=str(ctx.get(("pool", "vm_size"))),
        image=_image(ctx),
        dedicated=dedicated,
        spot=spot,
        slots_per_node=int(ctx.get(("pool", "slots_per_node"), 1)),
        start_task=_start_task(ctx),
        autoscale_formula=ctx.get(("pool", "autoscale", "formula")),
        autoscale_interval_s=interval,
    )


def _container(ctx: Context, which: str, name: str) -> str:
    given = ctx.get(("containers", which))
    value = given if given is not None else f"{name.lower()}-{which}"
    if not _CONTAINER.fullmatch(value):
        hint = "" if given is not None else f" (derived from name; set containers.{which})"
        ctx.add(
            ("containers", which) if given is not None else ("name",),
            f"container name '{value}' is invalid{hint}: 3-63 lowercase letters, digits and "
            "single hyphens, starting and ending with a letter or digit",
        )
    return str(value)


def _cleanup(ctx: Context) -> CleanupPlan:
    c = ctx.get(("cleanup",), {})
    return CleanupPlan(
        job=c.get("job", "delete") == "delete",
        pool=c.get("pool", "keep") == "delete",
        inputs=c.get("inputs", "keep") == "delete",
        always=c.get("when", "success") == "always",
    )


def _keep_logs(ctx: Context) -> KeepLogs:
    value = ctx.get(("keep_logs",), "failed")
    return "all" if value == "all" else "none" if value == "none" else "failed"


def _containers(ctx: Context, name: str) -> tuple[str, str]:
    given = ctx.get(("containers", "input")) is not None
    given = given or ctx.get(("containers", "output")) is not None
    pair = _container(ctx, "input", name), _container(ctx, "output", name)
    if pair[0] == pair[1]:
        ctx.add(
            ("containers",) if given else ("name",),
            f"input and output containers are both '{pair[0]}': outputs would overwrite "
            "inputs of the same name; use two containers",
        )
    return pair


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _download(ctx: Context, base: Path, files: Sequence[LocalFile]) -> Path | None:
    """The download directory; refused where results could overwrite the spec or inputs."""
    download = ctx.get(("download",))
    if not download:
        return None
    target = base / str(download)
    real = Path(os.path.realpath(target))
    if _inside(Path(os.path.realpath(base)), real):
        ctx.add(
            ("download",),
            f"'{download}' is the spec's directory or holds it: results could overwrite the "
            "spec and its inputs; download into a subdirectory of its own, e.g. 'results'",
        )
    elif _inside(real, Path(os.path.realpath(base / STATE_DIR))):
        ctx.add(("download",), f"'{download}' is inside {STATE_DIR}/, the local target's state")
    elif os.path.lexists(target) and not target.is_dir():
        ctx.add(("download",), f"'{download}' exists and is not a directory")
    else:
        for f in files:
            if _inside(Path(os.path.realpath(f.local)), real):
                ctx.add(
                    ("download",),
                    f"'{download}' holds the input '{f.blob}': results could overwrite it; "
                    "download into a directory with no inputs",
                )
                break
    return target


def build_spec(ctx: Context, spec_path: Path) -> Spec:
    """The model of ``ctx.doc`` (schema-valid); problems are added to ``ctx``."""
    name = str(ctx.get(("name",)))
    params = _bind_params(ctx)
    inputs = ctx.files(("inputs",))
    pool = _pool(ctx, name)
    start_files = pool.start_task.files if pool.start_task else ()
    input_container, output_container = _containers(ctx, name)
    return Spec(
        path=spec_path,
        name=name,
        params=params,
        pool=pool,
        job_id=ctx.batch_id(("job", "id"), str(ctx.get(("job", "id"), f"{name}-job")), "job id"),
        job_timeout_s=ctx.duration(("job", "timeout")),
        input_container=input_container,
        output_container=output_container,
        inputs=inputs,
        tasks=build_tasks(ctx, inputs),
        workflow=_workflow(ctx, inputs),
        download=_download(ctx, spec_path.parent, (*inputs, *start_files)),
        cleanup=_cleanup(ctx),
        keep_logs=_keep_logs(ctx),
        secret_env=frozenset(ctx.secret_env),  # after everything that may use {env.X}
    )


def build_task_set(ctx: Context, overrides: Sequence[str], broken: set[str]) -> TaskSet | None:
    """Only the tasks (and the params and inputs they use), for a spec whose other sections
    have schema errors, so that their own problems are reported in the same pass; None when a
    section they need is itself broken (``broken`` names the top-level keys with problems)."""
    steps = ctx.get(("steps",)) is not None
    if {"tasks", "steps", "params"} & broken or (ctx.get(("tasks",)) is None and not steps):
        return None
    apply_overrides(ctx, overrides)
    _bind_params(ctx)
    inputs = ctx.files(("inputs",)) if "inputs" not in broken else ()
    return TaskSet(build_tasks(ctx, inputs), inputs, _workflow(ctx, inputs))


def _workflow(ctx: Context, inputs: tuple[LocalFile, ...]) -> Workflow | None:
    """The ``steps`` section compiled; a spec with ``tasks`` alone never imports the steps
    module (each module costs `validate` start-up time)."""
    if ctx.get(("steps",)) is None and ctx.get(("tasks",)) is not None:
        return None
    from batchflow.spec.steps import build_workflow

    return build_workflow(ctx, inputs)
