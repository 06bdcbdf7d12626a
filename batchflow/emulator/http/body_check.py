"""The checker behind ``validation``: small schema types (``Obj``, ``ListOf``, ``OneOf``,
``Int``, scalar kinds) and ``check_object``, which turns a JSON value into the canonical body or
raises the service's 400 naming the field. Scalars are refused as Batch refuses them: integers
outside their range (Int32 unless narrower), strings holding a NUL, durations that are not
ISO 8601 or too long for a timedelta.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import isodate

from batchflow.emulator import errors
from batchflow.emulator.kinds import Json

# fullmatch, never "$": "$" also matches before a trailing newline, and Batch refuses "t1\n".
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The service's integers are Int32; anything wider is refused rather than stored and misread.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# A Batch account's dedicated/low-priority core quota is in the thousands; a pool asking for
# more nodes than this is a typo (10**23), not a plan.
MAX_NODES = 10_000


@dataclass(frozen=True)
class OneOf:
    """A string field with a closed set of wire values."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Int:
    """An integer field with the range the real service enforces (both ends inclusive), plus
    one value outside it that still means something (``-1``: unlimited)."""

    lo: int = INT32_MIN
    hi: int = INT32_MAX
    special: int | None = None


@dataclass(frozen=True)
class Str:
    """A string field shorter than the generic bound (``bounded_json.MAX_STRING``): Batch
    caps display names at 1,024 characters."""

    max_len: int


@dataclass(frozen=True)
class ListOf:
    """A JSON array whose items all follow ``item``."""

    item: Spec


@dataclass(frozen=True)
class Obj:
    """A JSON object: its fields, which of them are required, which are refused."""

    fields: Mapping[str, Spec]
    required: frozenset[str] = frozenset()
    unsupported: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)


# "str" | "id" | "int" | "bool" | "duration" | "any" (a JSON value stored as is, no effect).
Spec = Union[str, OneOf, Int, Str, ListOf, Obj]  # noqa: UP007 (a runtime alias; 3.10 has no "type")


def check_object(value: Json, spec: Obj, where: str = "") -> Json:
    """``value`` checked against ``spec`` (``where`` prefixes field paths in errors)."""
    out: Json = {}
    for name, item in value.items():
        path = f"{where}{name}"
        target = spec.aliases.get(name, name)
        if name in spec.unsupported:
            if item not in (None, [], {}, False):
                raise errors.unsupported_property(path, spec.unsupported[name])
            continue
        sub = spec.fields.get(target)
        if sub is None:
            raise errors.unknown_property(path)
        if item is not None:
            out[target] = _check(item, sub, path)
    for name in spec.required:
        if out.get(name) is None:
            raise errors.missing_required_property(f"{where}{name}")
    return out


def _check(value: Any, spec: Spec, path: str) -> Any:
    if isinstance(spec, Obj):
        if not isinstance(value, dict):
            raise errors.invalid_property_value(path, value, "Expected a JSON object.")
        return check_object(value, spec, f"{path}.")
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise errors.invalid_property_value(path, value, "Expected a JSON array.")
        return [_check(v, spec.item, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(spec, OneOf):
        return _check_enum(value, spec, path)
    if isinstance(spec, Int):
        return _check_int(value, spec, path)
    if isinstance(spec, Str):
        text = _check_scalar(value, "str", path)
        if len(text) > spec.max_len:
            raise errors.invalid_property_value(
                path, f"{text[:32]}...", f"The value is longer than {spec.max_len} characters."
            )
        return text
    return _check_scalar(value, spec, path)


def _check_int(value: Any, spec: Int, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.invalid_property_value(path, value, "Expected an integer.")
    if value == spec.special:
        return value
    if not spec.lo <= value <= spec.hi:
        also = "" if spec.special is None else f"{spec.special} or "
        raise errors.invalid_property_value(
            path, value, f"Must be {also}an integer from {spec.lo} to {spec.hi}."
        )
    return value


def _check_duration(value: str, path: str) -> str:
    try:
        isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError):
        raise errors.invalid_property_value(
            path, value, "Expected an ISO 8601 duration such as PT30M."
        ) from None
    except OverflowError:
        # More days than a timedelta holds (the SDKs' "unlimited", timedelta.max, still fits).
        raise errors.invalid_property_value(
            path, value, "The duration is out of range (at most P999999999D)."
        ) from None
    return value


def _check_enum(value: Any, spec: OneOf, path: str) -> str:
    if isinstance(value, str):
        for allowed in spec.values:
            if allowed.lower() == value.lower():
                return allowed
    raise errors.invalid_property_value(path, value, f"Expected one of {', '.join(spec.values)}.")


def _check_scalar(value: Any, kind: str, path: str) -> Any:
    if kind == "any":
        return value
    if isinstance(value, str) and "\x00" in value and kind in ("str", "id", "duration"):
        # A NUL cannot reach a command line, an environment or a file name: refuse it here
        # rather than fail the task later with a server error.
        raise errors.invalid_property_value(path, value, "The value contains a NUL character.")
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "id" and isinstance(value, str):
        if not ID.fullmatch(value):
            raise errors.invalid_property_value(
                path, value, "Ids have 1 to 64 letters, digits, hyphens or underscores."
            )
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int":
        return _check_int(value, Int(), path)
    if kind == "duration" and isinstance(value, str):
        return _check_duration(value, path)
    expected = {
        "str": "a string",
        "id": "a string",
        "bool": "true or false",
        "int": "an integer",
        "duration": "an ISO 8601 duration string",
    }[kind]
    raise errors.invalid_property_value(path, value, f"Expected {expected}.")
