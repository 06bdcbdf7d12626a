"""Run the published JSON Schema over a loaded document; every error becomes a located Problem.

Messages are rewritten for people: an unknown key names itself and the closest known key
("did you mean"), a missing key is named, ``anyOf`` choices (an image alias or a full
reference; an output as text or a mapping) report the errors of the branch the value was
evidently meant for. A schema node may carry ``errorMessage`` to replace the generic text.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batchflow.errors import Problem
from batchflow.spec.loader import Document

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "batchflow.schema.json"

_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def schema_text() -> str:
    """The schema as published."""
    return SCHEMA_PATH.read_text(encoding="utf-8")


@functools.cache
def _validator() -> Any:
    # Imported here so that modules needing only the model do not pay for jsonschema.
    jsonschema = importlib.import_module("jsonschema")
    return jsonschema.Draft202012Validator(json.loads(schema_text()))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "nothing"
    return "a number"


def _type_message(error: Any) -> str:
    wanted = error.validator_value
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    expected = " or ".join(_JSON_TYPES.get(n, n) for n in names)
    return f"expected {expected}, got {_kind(error.instance)}"


def _close(word: str, choices: list[str]) -> str | None:
    import difflib  # only when there is something to suggest

    hits = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return hits[0] if hits else None


def _unknown_keys(doc: Document, error: Any) -> Iterator[Problem]:
    known = list(error.schema.get("properties", {}))
    for key in error.instance:
        if key in known:
            continue
        path = (*error.absolute_path, key)
        hint = _close(key, known)
        extra = f"; did you mean '{hint}'?" if hint else f" (known: {', '.join(known)})"
        yield doc.problem(path, f"unknown key '{key}'{extra}", key=True)


def _best_branch(error: Any) -> list[Any] | None:
    """The errors of the one anyOf/oneOf branch whose type matched, if exactly one did."""
    by_branch: dict[int, list[Any]] = {}
    for sub in error.context or ():
        by_branch.setdefault(int(sub.schema_path[0]), []).append(sub)
    fitting = [
        errs
        for errs in by_branch.values()
        if not any(e.validator == "type" and not e.relative_path for e in errs)
    ]
    return fitting[0] if len(fitting) == 1 else None


def _suggest(error: Any) -> str:
    """ "; use 'a_b'" for a key refused for its '-' that '_' would make valid."""
    pattern = error.schema.get("pattern") if isinstance(error.schema, dict) else None
    key = error.instance
    if not isinstance(pattern, str) or not isinstance(key, str) or "-" not in key:
        return ""
    fixed = key.replace("-", "_")
    return f"; use '{fixed}'" if re.search(pattern, fixed) else ""


def _message(error: Any) -> str:
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if "propertyNames" in error.schema_path:
        return f"key '{error.instance}' {custom or 'is not allowed'}{_suggest(error)}"
    if error.validator == "type":
        return _type_message(error)
    if custom and error.validator in ("pattern", "const"):
        return f"{json.dumps(error.instance, ensure_ascii=False)[:60]} {custom}"
    if custom and error.validator in ("oneOf", "anyOf"):
        return str(custom)
    if error.validator in ("minItems", "minLength", "minProperties") and error.validator_value == 1:
        return "must not be empty"
    if error.validator == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        hint = ""
        if isinstance(error.instance, str):
            close = _close(error.instance, [str(c) for c in error.validator_value])
            hint = f"; did you mean '{close}'?" if close else ""
        return f"'{error.instance}' is not one of: {choices}{hint}"
    if error.validator in ("anyOf", "oneOf"):
        types = [sub["type"] for sub in error.validator_value if isinstance(sub.get("type"), str)]
        expected = " or ".join(_JSON_TYPES.get(t, t) for t in types) or "another value"
        return f"expected {expected}, got {_kind(error.instance)}"
    return str(error.message)


def _wrong_type(error: Any) -> bool:
    """A mapping's other rules fail too when the value is not a mapping; say it once."""
    wanted = error.schema.get("type") if isinstance(error.schema, dict) else None
    return wanted == "object" and not isinstance(error.instance, dict)


def _problems(doc: Document, errors: Iterable[Any]) -> Iterator[Problem]:
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator != "type" and _wrong_type(error):
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            yield from _unknown_keys(doc, error)
        elif error.validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            for key in missing:
                yield doc.problem(path, f"missing required key '{key}'")
        elif error.validator in ("anyOf", "oneOf") and not error.schema.get("errorMessage"):
            branch = _best_branch(error)
            if branch is not None:
                yield from _problems(doc, branch)
            else:
                yield doc.problem(path, _message(error))
        elif "propertyNames" in error.schema_path:
            yield doc.problem((*path, error.instance), _message(error), key=True)
        else:
            yield doc.problem(path, _message(error))


def check_schema(doc: Document) -> list[Problem]:
    """Every schema violation in ``doc``, located, in document order."""
    found = list(_problems(doc, _validator().iter_errors(doc.data)))
    unique = dict.fromkeys(found)  # anyOf branches can repeat a message
    return sorted(unique, key=lambda p: (p.line, p.col, p.path))
