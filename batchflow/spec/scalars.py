"""Scalars read with YAML 1.2 core-schema rules, not PyYAML's YAML 1.1 ones.

YAML 1.1 turns ``yes``/``no``/``on``/``off`` into booleans, ``010`` into 8, ``1:30`` into 90
(base 60) and ``1.10`` into 1.1; a spec author writing a file name or a version means the text.
Under the 1.2 core schema a plain (unquoted) scalar is:

- null: ``null``, ``Null``, ``NULL``, ``~`` or nothing;
- a boolean: ``true``/``false`` (also ``True``, ``TRUE``, ``False``, ``FALSE``), nothing else;
- an integer: decimal ``[-+]?[0-9]+`` (``010`` is ten), ``0o17`` octal, ``0x1F`` hexadecimal;
- a float: ``1.5``, ``-.5``, ``1e3``, ``.inf``, ``-.inf``, ``.nan``;
- text otherwise. Quoted scalars are always text.

``--set`` values are not read as YAML at all: they take the type of the param they replace.
"""

from __future__ import annotations

import re
from typing import Any

MAX_INT_DIGITS = 100  # Python refuses int() beyond 4,300 digits; no param needs a hundred

# Sets and str methods rather than a regex per rule: this module is on `validate`'s cold path.
_NULL = frozenset({"null", "Null", "NULL", "~", ""})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_DIGITS = frozenset("0123456789")
_OCT_DIGITS = frozenset("01234567")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_FLOAT_START = frozenset("+-.0123456789")
_INF = frozenset(sign + inf for sign in ("", "+", "-") for inf in (".inf", ".Inf", ".INF"))
_NAN = frozenset({".nan", ".NaN", ".NAN"})


class ScalarError(ValueError):
    """A scalar that looks like a number but cannot be one (too many digits)."""


def _too_long(text: str) -> None:
    if len(text) > MAX_INT_DIGITS:
        raise ScalarError(f"a number with more than {MAX_INT_DIGITS} digits")


def _is_decimal(text: str) -> bool:
    body = text[1:] if text[:1] in ("+", "-") else text
    return bool(body) and set(body) <= _DIGITS


def _int(text: str) -> int | None:
    if _is_decimal(text):
        _too_long(text.lstrip("+-"))
        return int(text, 10)
    digits = text[2:]
    if text[:2] == "0o" and digits and set(digits) <= _OCT_DIGITS:
        _too_long(text)
        return int(digits, 8)
    if text[:2] == "0x" and digits and set(digits) <= _HEX_DIGITS:
        _too_long(text)
        return int(digits, 16)
    return None


def _float(text: str) -> float | None:
    if text[:1] in _FLOAT_START and _FLOAT.fullmatch(text):
        _too_long(text)
        return float(text)
    if text in _INF:
        return float("-inf") if text.startswith("-") else float("inf")
    if text in _NAN:
        return float("nan")
    return None


def resolve_plain(text: str) -> Any:
    """The value of an unquoted scalar under the YAML 1.2 core schema."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    number = _int(text)
    if number is not None:
        return number
    real = _float(text)
    return text if real is None else real


def construct_tagged(tag: str, text: str) -> Any:
    """An explicitly tagged scalar (``!!int 010``), by the same 1.2 rules; ValueError if the
    text is not of that type."""
    if tag == "str":
        return text
    value = resolve_plain(text)
    if tag == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    wanted = {"int": int, "float": float, "bool": bool, "null": type(None)}[tag]
    if tag == "int" and isinstance(value, bool):
        raise ValueError(text)
    if not isinstance(value, wanted):
        raise ValueError(text)
    return value


def typed_like(default: Any, text: str) -> tuple[Any, str]:
    """``--set`` text as the type of ``default``: (value, "") or (None, why not)."""
    try:
        if isinstance(default, bool):
            if text in _TRUE or text in _FALSE:
                return text in _TRUE, ""
            return None, "this param is true or false"
        if isinstance(default, int):
            number = _int(text.strip())
            return (number, "") if number is not None else (None, "this param is a whole number")
        if isinstance(default, float):
            stripped = text.strip()
            real = _int(stripped) if _is_decimal(stripped) else _float(stripped)
            return (float(real), "") if real is not None else (None, "this param is a number")
    except ScalarError as exc:
        return None, str(exc)
    return text, ""
