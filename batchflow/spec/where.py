"""Problems found after the spec was loaded (against a target, or by the emulator's formula
evaluator), located in the spec file like the loader's own: the file is read and parsed again
for its marks, which the model does not keep (a valid spec is the common case, and marks cost
memory for every task)."""

from __future__ import annotations

from batchflow.errors import Problem, SpecError
from batchflow.spec.loader import LoadFailed, Where, dotted, parse


def problem_at(file: str, path: Where, message: str, lines_below: int = 0) -> Problem:
    """A Problem at ``path`` of the spec ``file`` (its value's position; ``lines_below``
    lines further down, at column 1, for a line inside a block scalar)."""
    from batchflow.spec import _read

    try:
        doc = parse(file, _read(file))
    except (LoadFailed, SpecError):  # it loaded a moment ago; changed since: no position
        return Problem(file, 0, 0, dotted(path), message)
    line, col = doc.locate(path)
    if lines_below:
        return Problem(file, line + lines_below, 1, dotted(path), message)
    return Problem(file, line, col, dotted(path), message)
