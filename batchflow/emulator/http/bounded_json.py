"""Request-body JSON parsed within the bounds of what a Batch body can hold, so that nothing a
client sends can be stored and later fail to load, list or encode.

- Nesting: at most ``MAX_DEPTH`` levels, checked by an iterative walk of the parsed value before
  anything is stored (a 980-deep body once parsed, was stored, and from then on its row raised
  RecursionError on every load, start-up included); deeper than json's C scanner goes, its
  RecursionError is the same 400.
- Integers: at most int64 (a 5,000-digit literal hit Python's int-conversion limit: a 500);
  floats finite (``1e999`` and ``NaN`` would be stored as non-JSON ``Infinity``/``NaN``).
- Strings (values and names): at most ``MAX_STRING`` characters, and no unpaired surrogate
  (``"\\ud800"`` parses, but can never be encoded as UTF-8 again: every listing of it failed).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from batchflow.emulator import errors

MAX_DEPTH = 32
# The longest string Batch takes anywhere (a command line); longer ones are refused, not stored.
MAX_STRING = 32_768
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Only a \u escape in the surrogate range can produce a lone surrogate from valid UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse(body: bytes) -> object:
    """The JSON value of ``body``; BatchServiceError 400 naming what is out of bounds."""
    try:
        text = body.decode("utf-8-sig")  # a leading BOM is tolerated, as json.loads(bytes) did
    except UnicodeDecodeError:
        raise errors.invalid_request_body("The request body is not UTF-8 text.") from None
    big: list[_TooBig] = []

    def parse_int(literal: str) -> int | _TooBig:
        value = _int(literal)
        if isinstance(value, _TooBig):
            big.append(value)
        return value

    try:
        value = json.loads(text, parse_int=parse_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise errors.invalid_request_body(
            f"Malformed JSON at line {exc.lineno}, column {exc.colno} (character {exc.pos}): "
            f"{exc.msg}."
        ) from None
    except RecursionError:  # json's C scanner stops at the interpreter's recursion limit
        raise _too_deep() from None
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    # One walk of the parsed value on the hot path of every task collection, which answers
    # only whether something is out of bounds; the offending property's path is found only
    # once there is one.
    if _offends(value, surrogates, long_strings=len(text) > MAX_STRING) or big:
        _check_strings(value, may_hold_surrogates=surrogates)
    return value


def _too_deep() -> Exception:
    return errors.invalid_request_body(f"The JSON is nested more than {MAX_DEPTH} levels deep.")


def _offends(value: object, may_hold_surrogates: bool, long_strings: bool) -> bool:
    """Whether the value (where the text allows it) holds a string or name too long or not
    text; raises if it nests too deep. Iterative: depth costs no stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    check = long_strings or may_hold_surrogates
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            if depth > MAX_DEPTH:
                raise _too_deep()
            stack.extend((sub, depth + 1) for sub in (item.values() if kind is dict else item))
            if check and kind is dict and any(_bad(name, may_hold_surrogates) for name in item):
                return True
        elif check and kind is str and _bad(item, may_hold_surrogates):
            return True
    return False


def _bad(text: str, may_hold_surrogates: bool) -> bool:
    return len(text) > MAX_STRING or (
        may_hold_surrogates and _LONE_SURROGATE.search(text) is not None
    )


@dataclass(frozen=True)
class _TooBig:
    """An integer literal beyond int64, kept as text until the walk can name its property."""

    literal: str


def _int(literal: str) -> int | _TooBig:
    # Checked on the text first: int() of thousands of digits is slow (and limited).
    if len(literal.lstrip("-")) > 19 or not _INT64_MIN <= int(literal) <= _INT64_MAX:
        return _TooBig(literal)
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise errors.invalid_request_body(f"The number {_clip(literal)} is out of range.")
    return value


def _constant(name: str) -> Any:
    raise errors.invalid_request_body(f"{name} is not a JSON value.")


def _check_strings(value: object, *, may_hold_surrogates: bool) -> None:
    """Every string's length, and (when the text had surrogate escapes) its encodability; an
    iterative walk, so depth costs no stack."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_string(item, path, may_hold_surrogates)
        elif isinstance(item, _TooBig):
            raise errors.invalid_property_value(
                path or "(the body)",
                _clip(item.literal),
                "The number is out of range: integers are at most 64-bit.",
            )
        elif isinstance(item, dict):
            for name, sub in item.items():
                if len(name) > MAX_STRING or (may_hold_surrogates and _LONE_SURROGATE.search(name)):
                    raise errors.invalid_request_body(
                        f"A property name under '{path or '(the body)'}' is not valid text."
                    )
                stack.append((sub, f"{path}.{name}" if path else name))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]") for i, sub in enumerate(item))


def _check_string(text: str, path: str, may_hold_surrogates: bool) -> None:
    # The value itself is not repeated: this walk runs before the schema and cannot tell a
    # password or a key from a command line.
    if len(text) > MAX_STRING:
        raise errors.invalid_property_value(
            path, _NOT_SHOWN, f"The value is longer than {MAX_STRING} characters."
        )
    if may_hold_surrogates and _LONE_SURROGATE.search(text):
        raise errors.invalid_property_value(
            path,
            _NOT_SHOWN,
            "The value holds an unpaired UTF-16 surrogate (such as \\ud800), which is not text.",
        )


_NOT_SHOWN = "(not shown)"


def _clip(text: str) -> str:
    """A value shortened for an error message (the service echoes what it refused)."""
    return text if len(text) <= 32 else f"{text[:32]}..."
