"""Time series of the service-defined metrics a formula samples (``$PendingTasks`` ...).

The service records a sample of every metric every 30 seconds; a formula reads a window of
them (``GetSample``), the share of a window present (``GetSamplePercent``), and so on. The
emulator records into a ``SampleStore`` and hands ``snapshot()`` to each evaluation.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

DEFAULT_PERIOD = _dt.timedelta(seconds=30)  # "samples are recorded every 30 seconds"


class Metric(Enum):
    """The read-only service-defined variables (without ``$``), as the docs list them."""

    CPU_PERCENT = "CPUPercent"
    WALL_CLOCK_SECONDS = "WallClockSeconds"
    MEMORY_BYTES = "MemoryBytes"
    DISK_BYTES = "DiskBytes"
    DISK_READ_BYTES = "DiskReadBytes"
    DISK_WRITE_BYTES = "DiskWriteBytes"
    DISK_READ_OPS = "DiskReadOps"
    DISK_WRITE_OPS = "DiskWriteOps"
    NETWORK_IN_BYTES = "NetworkInBytes"
    NETWORK_OUT_BYTES = "NetworkOutBytes"
    SAMPLE_NODE_COUNT = "SampleNodeCount"
    ACTIVE_TASKS = "ActiveTasks"
    RUNNING_TASKS = "RunningTasks"
    PENDING_TASKS = "PendingTasks"
    SUCCEEDED_TASKS = "SucceededTasks"
    FAILED_TASKS = "FailedTasks"
    TASK_SLOTS_PER_NODE = "TaskSlotsPerNode"
    CURRENT_DEDICATED_NODES = "CurrentDedicatedNodes"
    CURRENT_LOW_PRIORITY_NODES = "CurrentLowPriorityNodes"
    PREEMPTED_NODE_COUNT = "PreemptedNodeCount"
    USABLE_NODE_COUNT = "UsableNodeCount"


def _epoch(moment: _dt.datetime) -> float:
    return moment.timestamp()


@dataclass(frozen=True)
class SampleSeries:
    """One metric's samples, oldest first: ``times`` in epoch seconds, ``values`` alongside."""

    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    period_seconds: float = DEFAULT_PERIOD.total_seconds()

    def between(self, start: float, end: float) -> tuple[float, ...]:
        """Values sampled in ``(start, end]`` (epoch seconds), oldest first."""
        lo = bisect.bisect_right(self.times, start)
        hi = bisect.bisect_right(self.times, end)
        return self.values[lo:hi]

    def percent(self, start: float, end: float) -> float:
        """Share (0-100) of the samples the period allows in ``(start, end]`` that are present."""
        expected = int((end - start) / self.period_seconds + 1e-9)
        if expected <= 0:
            return 100.0
        found = len(self.between(start, end))
        return min(100.0, 100.0 * found / expected)

    def last(self, count: int) -> tuple[float, ...]:
        return self.values[max(0, len(self.values) - count) :] if count > 0 else ()


@dataclass
class SampleStore:
    """Mutable recorder the emulator appends to; keeps at most ``max_samples`` per metric."""

    period: _dt.timedelta = DEFAULT_PERIOD
    max_samples: int = 2880  # a day at 30 s
    _times: dict[Metric, list[float]] = field(default_factory=dict)
    _values: dict[Metric, list[float]] = field(default_factory=dict)

    def record(self, moment: _dt.datetime, values: Mapping[Metric, float]) -> None:
        """Append one sample per metric at ``moment`` (later than any recorded before)."""
        when = _epoch(moment)
        for metric, value in values.items():
            times = self._times.setdefault(metric, [])
            samples = self._values.setdefault(metric, [])
            if times and when <= times[-1]:
                raise ValueError(f"sample for {metric.value} at {moment} is not after the last")
            times.append(when)
            samples.append(float(value))
            if len(times) > 2 * self.max_samples:  # trim in batches: amortised O(1)
                del times[: -self.max_samples]
                del samples[: -self.max_samples]

    def snapshot(self) -> dict[Metric, SampleSeries]:
        """Immutable series of every metric, for one evaluation."""
        period = self.period.total_seconds()
        return {
            metric: SampleSeries(
                tuple(times[-self.max_samples :]),
                tuple(self._values[metric][-self.max_samples :]),
                period,
            )
            for metric, times in self._times.items()
        }
