"""What the run/status/logs/down commands share: loading the plan, writing results."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchflow.plan_model import Plan


def load_plan(spec: str, overrides: Sequence[str] = ()) -> Plan:
    """Validate the spec (SpecError, exit 2, on problems) and build its Plan."""
    from batchflow.plan import build_plan
    from batchflow.spec import load_spec

    return build_plan(load_spec(Path(spec), list(overrides)))


def load_names(spec: str, overrides: Sequence[str] = ()) -> Plan:
    """The Plan of what a run of the spec created, for commands that only look at it or
    delete it (status, logs, down): its inputs may have moved or been deleted since, and
    are not read (``uploads`` is empty)."""
    from batchflow.plan import build_plan
    from batchflow.spec import load_spec

    return build_plan(load_spec(Path(spec), list(overrides), need_inputs=False), hash_inputs=False)


def say(message: str) -> None:
    """A line for the user on stderr (results go to stdout)."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def out(text: str) -> None:
    """A result on stdout."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def out_json(value: Any) -> None:
    """A JSON result on stdout."""
    out(json.dumps(value, indent=2, sort_keys=False))
