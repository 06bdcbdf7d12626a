"""What a name in a formula refers to: a metric, a settable service variable, a constant, or a
user variable. Service-defined names match case-insensitively (the REST reference's own example
writes ``$targetDedicatedNodes``); user variables are case-sensitive and ``$`` is optional."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from batchflow.emulator.autoscale.samples import Metric
from batchflow.emulator.autoscale.values import TIME_INTERVALS, DeallocationOption, Value


class Settable(Enum):
    """The read-write service variables; the value is how ``results`` names them."""

    TARGET_DEDICATED = "$TargetDedicatedNodes"
    TARGET_DEDICATED_ALIAS = "$TargetDedicated"
    TARGET_LOW_PRIORITY = "$TargetLowPriorityNodes"
    TARGET_LOW_PRIORITY_ALIAS = "$TargetLowPriority"
    NODE_DEALLOCATION_OPTION = "$NodeDeallocationOption"


ALIAS_OF = {
    Settable.TARGET_DEDICATED_ALIAS: Settable.TARGET_DEDICATED,
    Settable.TARGET_LOW_PRIORITY_ALIAS: Settable.TARGET_LOW_PRIORITY,
}


@dataclass(frozen=True)
class Constant:
    value: Value


@dataclass(frozen=True)
class UserVariable:
    key: str  # without the optional '$'

    @property
    def display(self) -> str:
        return "$" + self.key


Resolved = Metric | Settable | Constant | UserVariable

_METRICS = {"$" + m.value.lower(): m for m in Metric}
_METRICS["$currentdedicated"] = Metric.CURRENT_DEDICATED_NODES  # pre-2017 name, still in docs
_SETTABLE = {s.value.lower(): s for s in Settable}
CONSTANTS: dict[str, Value] = {
    **TIME_INTERVALS,
    **{option.value: option.value for option in DeallocationOption},
}


def resolve(name: str) -> Resolved:
    lowered = name.lower()
    if lowered in _METRICS:
        return _METRICS[lowered]
    if lowered in _SETTABLE:
        return _SETTABLE[lowered]
    if name in CONSTANTS:
        return Constant(CONSTANTS[name])
    return UserVariable(name[1:] if name.startswith("$") else name)


def metric_display(metric: Metric) -> str:
    return "$" + metric.value
