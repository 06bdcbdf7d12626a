"""Operators and their type rules, exactly the docs' table of operations (no implicit others:
``double * doubleVec`` is not in the table, ``doubleVec * double`` is)."""

from __future__ import annotations

import datetime as _dt
import math
import operator
from collections.abc import Callable
from typing import Any

from batchflow.emulator.autoscale.errors import Position, evaluation_failed
from batchflow.emulator.autoscale.values import Interval, Type, Value

BinaryImpl = Callable[[Value, Value, Position], Value]
D, V, S, TS, TI = Type.DOUBLE, Type.VEC, Type.STRING, Type.TIMESTAMP, Type.INTERVAL


def divide(a: float, b: float) -> float:
    """IEEE division, as the .NET service's doubles divide: x/0 is +-inf, 0/0 is nan."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": divide,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
    "!=": operator.ne,
}


def _doubles(fn: Callable[[float, float], float]) -> BinaryImpl:
    return lambda a, b, pos: fn(a, b)  # type: ignore[arg-type]


def _vec_double(fn: Callable[[float, float], float]) -> BinaryImpl:
    return lambda a, b, pos: tuple(fn(x, b) for x in a)  # type: ignore[arg-type, union-attr]


def _vec_vec(fn: Callable[[float, float], float]) -> BinaryImpl:
    def impl(a: Value, b: Value, pos: Position) -> Value:
        assert isinstance(a, tuple) and isinstance(b, tuple)
        if len(a) != len(b):
            detail = f"doubleVec lengths differ ({len(a)} and {len(b)})"
            raise evaluation_failed(detail, pos)
        return tuple(fn(x, y) for x, y in zip(a, b, strict=True))

    return impl


def _interval(fn: Callable[[float, float], float], swap: bool = False) -> BinaryImpl:
    def impl(a: Value, b: Value, pos: Position) -> Value:
        left, right = (b, a) if swap else (a, b)
        seconds = left.seconds if isinstance(left, Interval) else left
        other = right.seconds if isinstance(right, Interval) else right
        return Interval(fn(seconds, other))  # type: ignore[arg-type]

    return impl


def _shift(a: Value, b: Value, pos: Position) -> Value:
    moment, interval = (a, b) if isinstance(a, _dt.datetime) else (b, a)
    assert isinstance(moment, _dt.datetime) and isinstance(interval, Interval)
    try:
        return moment + _dt.timedelta(seconds=interval.seconds)
    except (OverflowError, ValueError) as exc:
        raise evaluation_failed("timestamp out of range", pos) from exc


def _elapsed(a: Value, b: Value, pos: Position) -> Value:
    assert isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime)
    return Interval((a - b).total_seconds())


def _comparison(fn: Callable[[Any, Any], bool]) -> BinaryImpl:
    def impl(a: Value, b: Value, pos: Position) -> Value:
        if isinstance(a, Interval) and isinstance(b, Interval):
            return 1.0 if fn(a.seconds, b.seconds) else 0.0
        return 1.0 if fn(a, b) else 0.0

    return impl


def _table() -> dict[tuple[str, Type, Type], tuple[Type, BinaryImpl]]:
    table: dict[tuple[str, Type, Type], tuple[Type, BinaryImpl]] = {}
    for op, fn in _ARITH.items():
        table[op, D, D] = (D, _doubles(fn))
        table[op, V, D] = (V, _vec_double(fn))
        table[op, V, V] = (V, _vec_vec(fn))
    table["*", D, TI] = (TI, _interval(operator.mul, swap=True))
    table["*", TI, D] = (TI, _interval(operator.mul))
    table["/", TI, D] = (TI, _interval(divide))
    table["+", TI, TI] = (TI, _interval(operator.add))
    table["-", TI, TI] = (TI, _interval(operator.sub))
    table["+", TI, TS] = (TS, _shift)
    table["+", TS, TI] = (TS, _shift)
    table["-", TS, TS] = (TI, _elapsed)
    for op, fn in _COMPARE.items():
        for kind in (D, S, TS, TI):
            table[op, kind, kind] = (D, _comparison(fn))
    return table


BINARY = _table()
LOGICAL = frozenset({"&&", "||"})  # double && double -> double; short-circuits like C's


def truthy(value: Value) -> bool:
    """``nonzero is true, and zero is false``; nan is nonzero."""
    return value != 0.0


def negate(value: Value) -> Value:
    if isinstance(value, Interval):
        return Interval(-value.seconds)
    assert isinstance(value, float)
    return -value


def logical_not(value: Value) -> Value:
    return 0.0 if truthy(value) else 1.0


UNARY: dict[tuple[str, Type], Callable[[Value], Value]] = {
    ("-", D): negate,
    ("!", D): logical_not,
    ("-", TI): negate,
}
