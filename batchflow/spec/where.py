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


def in_scalar(file: str, path: Where, line: int, col: int) -> tuple[int, int]:
    """Where ``line``:``col`` of the string at ``path`` is in the spec file: below a block
    scalar's indicator (``|``) at its indentation, or after the opening quote of a flow one.
    (0, 0) when the file cannot be read again."""
    from batchflow.spec import _read

    try:
        raw = _read(file)
        doc = parse(file, raw)
    except (LoadFailed, SpecError):
        return 0, 0
    at_line, at_col = doc.locate(path)
    lines = raw.decode("utf-8", "replace").splitlines()
    start = lines[at_line - 1][at_col - 1 :] if at_line <= len(lines) else ""
    if start[:1] in ("|", ">"):
        body = [x for x in lines[at_line:] if x.strip()]
        indent = len(body[0]) - len(body[0].lstrip(" ")) if body else 0
        return at_line + line, indent + col
    quote = 1 if start[:1] in ("'", '"') else 0
    if line == 1:
        return at_line, at_col + quote + col - 1
    return at_line + line - 1, col  # a multi-line flow scalar: its lines, roughly
