"""Durations as written in specs: ``90s``, ``30m``, ``2h``, ``1h30m``, ``1d`` or ISO 8601."""

from __future__ import annotations

import re

MAX_DIGITS = 12  # no real duration needs more; int() of 5,000 digits is refused by Python
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SHORT = re.compile(r"(?:\s*(\d+)\s*([smhd]))+\s*")
_PART = re.compile(r"(\d+)\s*([smhd])")
_ISO = re.compile(
    r"P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


class DurationError(ValueError):
    """Text that is not a duration; turned into a located Problem by the checks."""


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raises DurationError if it is not a duration.

    ISO 8601 is accepted for weeks, days and times (``P1W``, ``P1DT2H``, ``PT30M``,
    ``PT1.5S``); years and months are refused because their length varies.
    """
    value = text.strip()
    if any(len(n) > MAX_DIGITS for n in re.findall(r"[\d.]+", value)):
        raise DurationError(f"{text[:40]!r}...: a number with more than {MAX_DIGITS} digits")
    if _SHORT.fullmatch(value):
        return sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    m = _ISO.fullmatch(value.upper())
    if m and value.upper() not in ("P", "PT") and not value.upper().endswith("T"):
        parts = {k: float(v) for k, v in m.groupdict().items() if v}
        seconds = sum(parts.get(k, 0.0) * _UNITS[k] for k in ("w", "d", "h", "m", "s"))
        return round(seconds)
    if re.fullmatch(r"P[\d.]+[YM].*", value.upper()):
        raise DurationError(f"{text!r}: years and months have no fixed length; use days (P30D)")
    raise DurationError(
        f"{text!r} is not a duration: use 90s, 30m, 2h, 1h30m, 1d or ISO 8601 (PT30M)"
    )


def iso_duration(seconds: int) -> str:
    """``seconds`` as ISO 8601 (``PT1H30M``), the form Batch's REST API uses."""
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((h, "H"), (m, "M"), (s, "S")) if n)
    out = f"P{days}D" if days else "P"
    return out + (f"T{time}" if time else ("" if days else "T0S"))
