"""``batchflow down SPEC``: delete what the spec created (job, pool, containers, local state)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from batchflow.commands._common import load_names, say
from batchflow.errors import UsageError
from batchflow.plan_model import Plan


def _confirm(plan: Plan, where: str, state: Path | None) -> bool:
    import click

    what = (
        f"job {plan.job.id}, pool {plan.pool.id}, containers {plan.input_container} "
        f"and {plan.output_container}"
    )
    if state is not None:
        what += f", and the local state {state}"
    return bool(click.confirm(f"Delete {what} on {where}?", default=False, err=True))


def _state_to_remove(plan: Plan, state: Path | None) -> Path | None:
    """The local state directory, if deleting the spec's containers leaves it unused: specs
    in one directory share ``.batchflow/``, and another spec's state is not ours to delete."""
    if state is None or not state.is_dir():
        return None
    ours = {plan.input_container, plan.output_container}
    blobs = state / "blobs"
    others = blobs.is_dir() and any(
        not p.name.startswith(".") and p.name not in ours for p in blobs.iterdir()
    )
    return None if others else state


def down_cmd(
    spec: str,
    overrides: Sequence[str],
    yes: bool,
    target: str | None = None,
    storage: str | None = None,
) -> int:
    """Delete the spec's job, pool and containers; on the local target, its local state."""
    from batchflow.commands._target import nothing_local, open_target

    if not yes and not sys.stdin.isatty():
        raise UsageError(
            "refusing to ask for confirmation: stdin is not a terminal; pass "
            "--yes to delete without asking"
        )
    plan = load_names(spec, overrides)
    if nothing_local(plan.spec_path, target):
        say(f"Nothing to delete: {plan.spec_path.name} has not run here.")
        return 0
    with open_target(plan.spec_path, target, storage, read_only=True) as tgt:
        if not yes and not _confirm(plan, tgt.kind, _state_to_remove(plan, tgt.state_dir)):
            say("Nothing deleted.")
            return 0
        tgt.batch.delete_job(plan.job.id)
        tgt.batch.delete_pool(plan.pool.id)
        for container in (plan.input_container, plan.output_container):
            tgt.blobs.delete_container(container)
        state = tgt.state_dir
    say(
        f"Deleted job {plan.job.id}, pool {plan.pool.id}, containers "
        f"{plan.input_container} and {plan.output_container}."
    )
    # Specs in one directory share .batchflow/: remove it only when no other spec uses it.
    if state is not None and state.is_dir() and not _containers_left(state / "blobs"):
        shutil.rmtree(state, ignore_errors=True)
        say(f"Removed local state {state}.")
    return 0


def _containers_left(blobs: Path) -> bool:
    """Whether the local blob store still holds a container (dot-names are bookkeeping)."""
    return blobs.is_dir() and any(not p.name.startswith(".") for p in blobs.iterdir())
