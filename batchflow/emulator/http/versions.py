"""Each api-version answered in its own shapes: the ONE table of what changed on the wire
between 2018-12-01.8.0 (azure-batch 6.x) and 2025-06-01 (15.x), and the function that turns
a current answer into an older version's.

The state keeps one current document; only answers are shaped, here, by the HTTP layer
(``base.decorate`` for resources, the task counts route). A change names the first
api-version that has the new shape and the version's source; a request at an older version
gets the old shape. Requests in old shapes are read by ``validation`` (a pool's
``maxTasksPerNode`` is stored as ``taskSlotsPerNode``), so a pool an old client created with
``maxTasksPerNode`` comes back to it with ``maxTasksPerNode``.

Checked and NOT changed in that range, so not in the table: the low-priority names.
``targetLowPriorityNodes``/``currentLowPriorityNodes`` (pools), ``isDedicated`` (nodes) and
``lowPriority`` (node counts) are the wire names in every version up to 2025-06-01; "Spot" is
only the SDKs' and docs' wording. Fields an old version lacks but an old client ignores
(msrest skips unknown keys) are only dropped where the table lists them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from batchflow.emulator.kinds import Json

# What an answer holds (the OData collection names the routes already use).
POOLS, NODES, JOBS, TASKS, TASK_COUNTS = "pools", "nodes", "jobs", "tasks", "taskcounts"
SCHEDULES = "jobschedules"
# Where a job and a job schedule hold a pool's specification (an auto pool).
_AUTO_POOL = ("poolInfo", "autoPoolSpecification", "pool")


def _at(doc: Json, path: tuple[str, ...], change: Callable[[Json], Json]) -> Json:
    """``doc`` with ``change`` made to the object at ``path`` (``doc`` itself when empty);
    unchanged when nothing is there."""
    if not path:
        return change(doc)
    inner = doc.get(path[0])
    if not isinstance(inner, dict):
        return doc
    return {**doc, path[0]: _at(inner, path[1:], change)}


@dataclass(frozen=True)
class Renamed:
    """A field with another name before ``since``, in the object at ``path`` (the answer
    itself when empty)."""

    since: str
    shape: str
    old: str
    new: str
    path: tuple[str, ...] = ()

    def applies(self, day: _dt.date) -> bool:
        return day < _day(self.since)

    def apply(self, doc: Json) -> Json:
        return _at(doc, self.path, self._renamed)

    def _renamed(self, doc: Json) -> Json:
        return {(self.old if k == self.new else k): v for k, v in doc.items()}


@dataclass(frozen=True)
class Added:
    """A field that did not exist before ``since``."""

    since: str
    shape: str
    field: str

    def applies(self, day: _dt.date) -> bool:
        return day < _day(self.since)

    def apply(self, doc: Json) -> Json:
        return {k: v for k, v in doc.items() if k != self.field}


@dataclass(frozen=True)
class Removed:
    """Fields gone from ``since`` on, in the object at ``path``: the emulator still takes
    them from older clients (and gives them back to those), not to newer ones."""

    since: str
    shape: str
    fields: frozenset[str]
    path: tuple[str, ...] = ()

    def applies(self, day: _dt.date) -> bool:
        return day >= _day(self.since)

    def apply(self, doc: Json) -> Json:
        return _at(doc, self.path, lambda d: {k: v for k, v in d.items() if k not in self.fields})


@dataclass(frozen=True)
class Nested:
    """An answer that was one object (the entity ``old_entity``) before ``since`` and now
    holds it under ``key`` (with new siblings)."""

    since: str
    shape: str
    key: str
    old_entity: str

    def applies(self, day: _dt.date) -> bool:
        return day < _day(self.since)

    def apply(self, doc: Json) -> Json:
        inner: Json = {}
        if "odata.metadata" in doc:  # ...Protocol.Entities.<new> -> ...Entities.<old>
            head = str(doc["odata.metadata"]).rsplit(".", 1)[0]
            inner["odata.metadata"] = f"{head}.{self.old_entity}"
        inner.update(doc.get(self.key) or {})
        return inner


Change = Renamed | Added | Removed | Nested
# A pool's fields of azure-batch 14.2.0 (2024-02-01.19.0) that the 2025-06-01 definition no
# longer has (BatchPool; BatchPoolSpecification has all but currentNodeCommunicationMode).
# Whether 2024-07-01.20.0 already dropped them is not checked: they are dropped from 2025-06-01.
_GONE_FROM_POOLS = frozenset(
    {
        "applicationLicenses",
        "certificateReferences",
        "cloudServiceConfiguration",
        "currentNodeCommunicationMode",
        "resourceTags",
        "targetNodeCommunicationMode",
    }
)

# Newest first: an answer is walked back from the current shape one change at a time. The
# msrest SDKs' models were compared class by class (azure-batch 6.0.0 = 2018-12-01.8.0,
# 9.0.0 = 2020-03-01.11.0, 10.0.0 = 2020-09-01.12.0, 11.0.0 = 2021-06-01.14.0,
# 12.0.0 = 2022-01-01.15.0, 13.0.0 = 2022-10-01.16.0, 14.2.0 = 2024-02-01.19.0) for the
# answers the emulator gives; a field an old client would merely ignore is listed when the
# emulator sends it, so each version sees only its own fields.
CHANGES: tuple[Change, ...] = (
    Removed("2025-06-01", POOLS, _GONE_FROM_POOLS),
    Removed("2025-06-01", JOBS, _GONE_FROM_POOLS, _AUTO_POOL),
    Removed("2025-06-01", SCHEDULES, _GONE_FROM_POOLS, ("jobSpecification", *_AUTO_POOL)),
    # 2025-06-01 (Batch REST API versioning, "IPv6 support on Pools": "Added ipv6Address to
    # BatchNode"; azure-batch 15.0.0).
    Added("2025-06-01", NODES, "ipv6Address"),
    # 2022-01-01.15.0 (azure-batch 12.0.0: CloudJob gains allowTaskPreemption).
    Added("2022-01-01.15.0", JOBS, "allowTaskPreemption"),
    # 2021-06-01.14.0 (azure-batch 11.0.0: CloudJob gains maxParallelTasks, ComputeNode
    # virtualMachineInfo).
    Added("2021-06-01.14.0", JOBS, "maxParallelTasks"),
    Added("2021-06-01.14.0", NODES, "virtualMachineInfo"),
    # 2020-09-01.12.0 (azure-batch 10.0.0 changelog): "[Breaking] Replaced property
    # maxTasksPerNode with taskSlotsPerNode on the pool".
    Renamed("2020-09-01.12.0", POOLS, "maxTasksPerNode", "taskSlotsPerNode"),
    Renamed("2020-09-01.12.0", JOBS, "maxTasksPerNode", "taskSlotsPerNode", _AUTO_POOL),
    Renamed(
        "2020-09-01.12.0",
        SCHEDULES,
        "maxTasksPerNode",
        "taskSlotsPerNode",
        ("jobSpecification", *_AUTO_POOL),
    ),
    # Same version: "[Breaking] Changed the response type of GetTaskCounts to return
    # TaskCountsResult, ... containing the previous TaskCounts object and a new TaskSlotCounts
    # object" (6.0.0 and 9.0.0 read TaskCounts itself: active ... failed, nothing else).
    Nested("2020-09-01.12.0", TASK_COUNTS, "taskCounts", "TaskCounts"),
    # Same version: "Added property requiredSlots to the task"; ComputeNode gains
    # runningTaskSlotsCount (10.0.0's model; 9.0.0 has neither).
    Added("2020-09-01.12.0", TASKS, "requiredSlots"),
    Added("2020-09-01.12.0", NODES, "runningTaskSlotsCount"),
)


def _day(api_version: str) -> _dt.date:
    """The date an api-version is named by (``2020-03-01.11.0`` -> 2020-03-01)."""
    return _dt.date.fromisoformat(api_version[:10])


def before(api_version: str, version: str) -> bool:
    """Whether ``api_version`` is older than ``version`` (an operation a version dropped)."""
    try:
        return _day(api_version) < _day(version)
    except ValueError:
        return False


def answer(api_version: str, shape: str, doc: Mapping[str, Any]) -> Json:
    """``doc`` (an answer in the current shape) as ``api_version`` has it."""
    out = dict(doc)
    try:
        day = _day(api_version)
    except ValueError:  # the control surface has no api-version: the current shapes
        return out
    for change in CHANGES:
        if change.shape == shape and change.applies(day):
            out = change.apply(out)
    return out
