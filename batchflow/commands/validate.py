"""``batchflow validate SPEC...``: check specs without touching anything."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from batchflow.errors import Problem, SpecError
from batchflow.spec import load_spec
from batchflow.spec.context import is_utf8


def _check(path: str, overrides: Sequence[str]) -> tuple[str | None, list[Problem]]:
    """(how many tasks, []) when valid, (None, problems) when not."""
    from batchflow.spec.expand import RenderedTasks

    try:
        spec = load_spec(path, overrides)
    except SpecError as exc:
        return None, list(exc.problems)
    if spec.pool.autoscale_formula:  # imported only then: validate's start-up is measured
        from batchflow.commands._preflight import formula_problem

        formula = formula_problem(path, spec.pool.autoscale_formula, spec.pool.slots_per_node)
        if formula is not None:
            return None, [formula]
    if spec.workflow is not None:
        from batchflow.spec.steps_expand import workflow_tasks

        count = _tasks(len(workflow_tasks(spec.workflow, spec.inputs)))
        dynamic = [s.name for s in spec.workflow.steps if s.dynamic]
        if dynamic:  # their tasks are made of what other tasks produce, while the run goes
            count += f", and those of the dynamic steps {', '.join(dynamic)}"
        return count, []
    return _tasks(len(RenderedTasks(spec))), []


def _tasks(n: int) -> str:
    return f"{n} task{'s' if n != 1 else ''}"


def validate_cmd(specs: Sequence[str], overrides: Sequence[str], as_json: bool) -> int:
    """Validate every spec; report all problems of all specs; 0 if all valid, else 2."""
    results = [(path, *_check(path, overrides)) for path in specs]
    valid = all(not problems for _, _, problems in results)
    if as_json:
        doc: dict[str, Any] = {
            "valid": valid,
            "specs": [
                {"path": p, "valid": not probs, "problems": [asdict(x) for x in probs]}
                for p, _, probs in results
            ],
        }
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        if not is_utf8(text):  # undecodable bytes in a path from argv: escaped, JSON stays valid
            text = json.dumps(doc, indent=2)
        sys.stdout.write(text + "\n")
        return 0 if valid else 2
    for path, count, problems in results:
        if not problems:
            sys.stdout.write(f"{path}: valid ({count})\n")
    if not valid:
        raise SpecError([p for _, _, probs in results for p in probs])
    return 0
