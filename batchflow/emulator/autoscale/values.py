"""Runtime values of the formula language and how the service writes them in ``results``.

double -> ``float``; doubleVec -> ``tuple[float, ...]``; string -> ``str``;
timestamp -> aware UTC ``datetime``; timeinterval -> ``Interval``.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from enum import Enum


class Type(Enum):
    """Static types; NEVER is the type of ``stop()``, which fits any branch of ``?:``."""

    DOUBLE = "double"
    VEC = "doubleVec"
    STRING = "string"
    TIMESTAMP = "timestamp"
    INTERVAL = "timeinterval"
    NEVER = "nothing"


@dataclass(frozen=True)
class Interval:
    """A time interval, in seconds (the service's resolution is 100 ns)."""

    seconds: float


Value = float | tuple[float, ...] | str | _dt.datetime | Interval

TICK = 1e-7
TIME_INTERVALS: dict[str, Interval] = {
    "TimeInterval_Zero": Interval(0.0),
    "TimeInterval_100ns": Interval(TICK),
    "TimeInterval_Microsecond": Interval(1e-6),
    "TimeInterval_Millisecond": Interval(1e-3),
    "TimeInterval_Second": Interval(1.0),
    "TimeInterval_Minute": Interval(60.0),
    "TimeInterval_Hour": Interval(3600.0),
    "TimeInterval_Day": Interval(86400.0),
    "TimeInterval_Week": Interval(7 * 86400.0),
    "TimeInterval_Year": Interval(365 * 86400.0),
}


class DeallocationOption(Enum):
    """``$NodeDeallocationOption`` values; a formula names them as bare words."""

    REQUEUE = "requeue"
    TERMINATE = "terminate"
    TASK_COMPLETION = "taskcompletion"
    RETAINED_DATA = "retaineddata"


def format_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_timestamp(value: _dt.datetime) -> str:
    utc = value.astimezone(_dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_interval(value: Interval) -> str:
    """.NET TimeSpan's constant format, ``[-][d.]hh:mm:ss[.fffffff]``, as the service is .NET."""
    if not math.isfinite(value.seconds) or abs(value.seconds) > 1e13:
        return format_double(value.seconds)
    ticks = round(abs(value.seconds) / TICK)
    sign = "-" if value.seconds < 0 and ticks else ""
    whole, fraction = divmod(ticks, 10_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{fraction:07d}" if fraction else "")


def format_value(value: Value) -> str:
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, tuple):
        return "[" + ",".join(format_double(v) for v in value) + "]"
    if isinstance(value, _dt.datetime):
        return format_timestamp(value)
    if isinstance(value, Interval):
        return format_interval(value)
    return value
