"""Built-in functions: their type rules (checked when the formula compiles) and their values.

A *doubleVecList* argument list is any mix of doubles and doubleVecs, flattened into one
doubleVec before the function sees it (``avg(v, 7)`` is ``avg(1, 2, 3, 7)`` for ``v=[1,2,3]``).
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from batchflow.emulator.autoscale.errors import EvaluationFailure, Position, evaluation_failed
from batchflow.emulator.autoscale.values import Type, Value, format_double


@dataclass(frozen=True)
class CallContext:
    now: _dt.datetime
    rand: Callable[[], float]
    position: Position


Impl = Callable[[Sequence[Value], CallContext], Value]
Check = Callable[[Sequence[Type]], "Type | str"]


class StopEvaluation(Exception):
    """``stop()``: evaluation ends here, successfully, with what was assigned so far."""


@dataclass(frozen=True)
class Builtin:
    check: Check
    impl: Impl


# --- type rules ----------------------------------------------------------------------------
_LISTABLE = (Type.DOUBLE, Type.VEC)


def _vec_list(result: Type) -> Check:
    def check(types: Sequence[Type]) -> Type | str:
        bad = [t for t in types if t not in _LISTABLE]
        return result if not bad else f"expects doubles or doubleVecs, not {bad[0].value}"

    return check


def _logarithm_check(types: Sequence[Type]) -> Type | str:
    listed = _vec_list(Type.VEC)(types)
    if isinstance(listed, str) or not types:
        return listed if types else "expects a double or a doubleVecList"
    return Type.DOUBLE if list(types) == [Type.DOUBLE] else Type.VEC


def _exact(result: Type, *signatures: tuple[Type, ...]) -> Check:
    def check(types: Sequence[Type]) -> Type | str:
        if tuple(types) in signatures:
            return result
        wanted = " or ".join("(" + ", ".join(t.value for t in sig) + ")" for sig in signatures)
        return f"expects {wanted}"

    return check


# --- values --------------------------------------------------------------------------------
def _flatten(args: Sequence[Value]) -> list[float]:
    flat: list[float] = []
    for arg in args:
        if isinstance(arg, tuple):
            flat.extend(arg)
        elif isinstance(arg, float):
            flat.append(arg)
    return flat


def _nonempty(name: str, args: Sequence[Value], ctx: CallContext) -> list[float]:
    flat = _flatten(args)
    if not flat:
        raise evaluation_failed(f"{name}() of an empty list", ctx.position)
    return flat


def _over_list(name: str, reduce: Callable[[list[float]], float]) -> Impl:
    def impl(args: Sequence[Value], ctx: CallContext) -> Value:
        return float(reduce(_nonempty(name, args, ctx)))

    return impl


def _log(fn: Callable[[float], float]) -> Callable[[float], float]:
    """``fn`` with .NET's answers where Python raises: log(0) = -inf, log(<0) = nan."""

    def log(x: float) -> float:
        if math.isnan(x) or x < 0:
            return math.nan
        if x == 0:
            return -math.inf
        if math.isinf(x):
            return math.inf
        return fn(x)

    return log


def _logarithm(fn: Callable[[float], float]) -> Impl:
    log = _log(fn)

    def impl(args: Sequence[Value], ctx: CallContext) -> Value:
        if len(args) == 1 and isinstance(args[0], float):
            return log(args[0])
        return tuple(log(x) for x in _flatten(args))

    return impl


def _mean(values: list[float]) -> float:
    # Plain float arithmetic, as the .NET service computes: inf and nan propagate; the
    # statistics module would raise on them instead.
    return sum(values) / len(values)


def _std(values: list[float]) -> float:
    """Sample standard deviation (n - 1); a single sample deviates by 0."""
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))


def _percentile(args: Sequence[Value], ctx: CallContext) -> Value:
    """Nearest-rank percentile: the docs say it returns an *element* of v."""
    values = sorted(_nonempty("percentile", args[:1], ctx))
    p = args[1]
    assert isinstance(p, float)
    if not 0 <= p <= 100:
        raise evaluation_failed(
            f"percentile {format_double(p)} is not between 0 and 100", ctx.position
        )
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


def _val(args: Sequence[Value], ctx: CallContext) -> Value:
    vector, index = args
    assert isinstance(vector, tuple) and isinstance(index, float)
    if not (math.isfinite(index) and 0 <= index < len(vector)):
        detail = f"val() index {index:g} is outside a vector of {len(vector)} elements"
        raise evaluation_failed(detail, ctx.position)
    return vector[int(index)]


def parse_time(text: str, position: Position) -> _dt.datetime:
    """W3C-DTF (ISO 8601 profile) or RFC 1123, the two formats ``time()`` accepts."""
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            detail = f"'{text}' is not a W3C-DTF or RFC 1123 date and time"
            raise evaluation_failed(detail, position) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _time(args: Sequence[Value], ctx: CallContext) -> Value:
    if not args or args[0] == "":
        return ctx.now
    text = args[0]
    assert isinstance(text, str)
    return parse_time(text, ctx.position)


def _stop(args: Sequence[Value], ctx: CallContext) -> Value:
    raise StopEvaluation


BUILTINS: dict[str, Builtin] = {
    "avg": Builtin(_vec_list(Type.DOUBLE), _over_list("avg", _mean)),
    "len": Builtin(_vec_list(Type.DOUBLE), lambda args, ctx: float(len(_flatten(args)))),
    "lg": Builtin(_logarithm_check, _logarithm(math.log2)),
    "ln": Builtin(_logarithm_check, _logarithm(math.log)),
    "log": Builtin(_logarithm_check, _logarithm(math.log10)),
    "max": Builtin(_vec_list(Type.DOUBLE), _over_list("max", max)),
    "min": Builtin(_vec_list(Type.DOUBLE), _over_list("min", min)),
    "norm": Builtin(
        _vec_list(Type.DOUBLE), lambda a, c: math.sqrt(sum(x * x for x in _flatten(a)))
    ),
    "percentile": Builtin(
        _exact(Type.DOUBLE, (Type.VEC, Type.DOUBLE), (Type.DOUBLE, Type.DOUBLE)), _percentile
    ),
    "rand": Builtin(_exact(Type.DOUBLE, ()), lambda args, ctx: ctx.rand()),
    "range": Builtin(_vec_list(Type.DOUBLE), _over_list("range", lambda v: max(v) - min(v))),
    "std": Builtin(_vec_list(Type.DOUBLE), _over_list("std", _std)),
    "stop": Builtin(_exact(Type.NEVER, ()), _stop),
    "sum": Builtin(_vec_list(Type.DOUBLE), lambda args, ctx: float(sum(_flatten(args)))),
    "time": Builtin(_exact(Type.TIMESTAMP, (), (Type.STRING,)), _time),
    "val": Builtin(_exact(Type.DOUBLE, (Type.VEC, Type.DOUBLE)), _val),
}

__all__ = ["BUILTINS", "Builtin", "CallContext", "EvaluationFailure", "StopEvaluation"]
