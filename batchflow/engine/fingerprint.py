"""A task's fingerprint: what it would run, so a rerun can tell a changed task from a done one.

The fingerprint is a sha256 over the task as the plan defines it: command, environment,
constraints, outputs, dependencies and, for each input, where it lands and the MD5 of its
content. Resource-file URLs are left out: their SAS changes on every run. It travels in the
task's ``displayName`` (``batchflow:<hex>``), which the one listing of existing tasks selects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from batchflow.plan_model import Plan, TaskPlan

PREFIX = "batchflow:"


def input_md5s(plan: Plan) -> dict[str, str]:
    """Blob name -> hex MD5 of every file the run uploads."""
    return {u.blob: u.md5.hex() for u in plan.uploads}


def fingerprint(task: TaskPlan, md5s: Mapping[str, str]) -> str:
    """``batchflow:<sha256>`` of the task's definition (see the module docstring)."""
    canonical = {
        "command": task.command,
        "environment": sorted(task.environment.items()),
        "inputs": sorted((f.path, f.blob, md5s.get(f.blob, "")) for f in task.inputs),
        "outputs": [(o.pattern, o.destination, o.condition) for o in task.outputs],
        "retries": task.max_retries,
        "timeout": task.timeout_s,
        "depends_on": sorted(task.depends_on),
    }
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)
    return PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def changed(recorded: str, current: str) -> bool:
    """Whether a task that exists with ``recorded`` as its displayName differs from the plan.
    A task without a fingerprint (added by an older batchflow, or by hand) is not judged."""
    return recorded.startswith(PREFIX) and recorded != current
