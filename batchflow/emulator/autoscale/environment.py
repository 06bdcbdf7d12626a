"""What an evaluation reads from the pool: metric samples, current values and targets."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from batchflow.emulator.autoscale.samples import Metric, SampleSeries
from batchflow.emulator.autoscale.values import DeallocationOption


@dataclass(frozen=True)
class AutoscaleEnvironment:
    """The pool as a formula sees it at one evaluation.

    ``samples``: each metric's history (``SampleStore.snapshot()``). ``current``: the value a
    metric has when used as a plain number (``$CurrentDedicatedNodes * 1.1``); a metric
    missing here reads as its latest sample. The targets are what ``$TargetDedicatedNodes``
    and friends read before the formula assigns them. ``rand`` feeds ``rand()``.
    """

    samples: Mapping[Metric, SampleSeries] = field(default_factory=dict)
    current: Mapping[Metric, float] = field(default_factory=dict)
    target_dedicated_nodes: int = 0
    target_low_priority_nodes: int = 0
    node_deallocation_option: DeallocationOption = DeallocationOption.REQUEUE
    rand: Callable[[], float] = random.random

    def series(self, metric: Metric) -> SampleSeries:
        return self.samples.get(metric, _EMPTY)


_EMPTY = SampleSeries()
