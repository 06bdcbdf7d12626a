"""Shared fixtures for autoscale formula tests: a fixed 'now' and regular sample series."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from batchflow.emulator.autoscale import (
    AutoscaleEnvironment,
    AutoscaleRun,
    Metric,
    SampleSeries,
    compile_formula,
)

NOW = dt.datetime(2016, 10, 13, 19, 18, 47, 805000, tzinfo=dt.timezone.utc)  # a Thursday


def series(values: Sequence[float], period: float = 30.0, gap_at_end: int = 0) -> SampleSeries:
    """Samples ending at NOW (minus ``gap_at_end`` missing samples), oldest first."""
    end = NOW.timestamp() - gap_at_end * period
    times = tuple(end - period * i for i in range(len(values) - 1, -1, -1))
    return SampleSeries(times, tuple(float(v) for v in values), period)


def run(text: str, **env: object) -> AutoscaleRun:
    return compile_formula(text).evaluate(AutoscaleEnvironment(**env), NOW)  # type: ignore[arg-type]


def value(text: str, name: str = "x", **env: object) -> str:
    """The ``$name=...`` value in the results of running ``text``."""
    result = run(text, **env)
    assert result.error is None, result.error
    parts = dict(part.split("=", 1) for part in result.results.split(";"))
    return parts["$" + name]


def pending(values: Sequence[float], **kw: float) -> dict[Metric, SampleSeries]:
    return {Metric.PENDING_TASKS: series(values, **kw)}  # type: ignore[arg-type]
