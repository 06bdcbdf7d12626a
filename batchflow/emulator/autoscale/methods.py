"""Sample methods of a metric: ``GetSample``, ``GetSamplePercent``, ``GetSamplePeriod``,
``Count`` and ``HistoryBeginTime``, with their type rules.

A time argument is a timestamp (absolute) or a timeinterval (that long before now); two of them
bound a window in either order, one bounds it from there to now.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from batchflow.emulator.autoscale.errors import Position, insufficient_samples
from batchflow.emulator.autoscale.samples import SampleSeries
from batchflow.emulator.autoscale.values import Interval, Type, Value, format_double

Method = Callable[[SampleSeries, Sequence[Value], float, Position], Value]
D, TS, TI = Type.DOUBLE, Type.TIMESTAMP, Type.INTERVAL
_TIMES = (TS, TI)


@dataclass(frozen=True)
class SampleMethod:
    signatures: tuple[tuple[Type, ...], ...]
    result: Type
    impl: Callable[[str], Method]  # given the metric's display name


def _times(*shape: str) -> tuple[tuple[Type, ...], ...]:
    """Signatures where 't' is any time type and 'd' a double."""
    combos: list[tuple[Type, ...]] = [()]
    for slot in shape:
        options = _TIMES if slot == "t" else (D,)
        combos = [(*c, o) for c in combos for o in options]
    return tuple(combos)


def _epoch(value: Value, now: float) -> float:
    if isinstance(value, Interval):
        return now - value.seconds
    assert isinstance(value, _dt.datetime)
    return value.timestamp()


def _window(args: Sequence[Value], now: float) -> tuple[float, float]:
    times = [a for a in args if not isinstance(a, float)]
    first = _epoch(times[0], now)
    second = _epoch(times[1], now) if len(times) > 1 else now
    return min(first, second), max(first, second)


def _get_sample(name: str) -> Method:
    def impl(series: SampleSeries, args: Sequence[Value], now: float, pos: Position) -> Value:
        if len(args) == 1 and isinstance(args[0], float):
            count = args[0]
            return series.last(int(count)) if math.isfinite(count) else series.values
        start, end = _window(args, now)
        wanted = args[-1] if isinstance(args[-1], float) else None
        if wanted is not None:
            received = series.percent(start, end)
            if received < wanted:
                detail = (
                    f"Insufficient data from data set: {name} wanted "
                    f"{format_double(wanted)}%, received {format_double(received)}%"
                )
                raise insufficient_samples(detail, pos)
        return series.between(start, end)

    return impl


def _get_sample_percent(name: str) -> Method:
    def impl(series: SampleSeries, args: Sequence[Value], now: float, pos: Position) -> Value:
        return series.percent(*_window(args, now))

    return impl


def _period(name: str) -> Method:
    return lambda series, args, now, pos: Interval(series.period_seconds)


def _count(name: str) -> Method:
    return lambda series, args, now, pos: float(len(series.values))


def _history_begin(name: str) -> Method:
    def impl(series: SampleSeries, args: Sequence[Value], now: float, pos: Position) -> Value:
        if not series.times:
            raise insufficient_samples(
                f"Insufficient data from data set: {name} has no samples", pos
            )
        return _dt.datetime.fromtimestamp(series.times[0], _dt.timezone.utc)

    return impl


METHODS: dict[str, SampleMethod] = {
    "GetSample": SampleMethod(
        ((D,), *_times("t"), *_times("t", "d"), *_times("t", "t"), *_times("t", "t", "d")),
        Type.VEC,
        _get_sample,
    ),
    "GetSamplePercent": SampleMethod((*_times("t"), *_times("t", "t")), D, _get_sample_percent),
    "GetSamplePeriod": SampleMethod(((),), TI, _period),
    "Count": SampleMethod(((),), D, _count),
    "HistoryBeginTime": SampleMethod(((),), TS, _history_begin),
}
