"""What answers look like to clients of api-versions before 2020-09-01.12.0 (azure-batch 6.x-9.x,
the JavaScript SDK's older majors): that version renamed a pool's ``maxTasksPerNode`` to
``taskSlotsPerNode`` and wrapped a job's task counts in ``TaskCountsResult`` (``taskCounts``
plus ``taskSlotCounts``). An older client reads only the old names, so it would see no slots
and empty counts. Requests need nothing here: ``validation`` takes the old names as aliases.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

_SLOTS_API = _dt.date(2020, 9, 1)


def is_legacy(api_version: str) -> bool:
    """True for an api-version older than the one that introduced task slots."""
    try:
        return _dt.date.fromisoformat(api_version[:10]) < _SLOTS_API
    except ValueError:  # control routes carry no checked api-version
        return False


def pool_fields(api_version: str, kind: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an old client reads in place of the new ones (a pool's maxTasksPerNode)."""
    if kind == "pools" and "taskSlotsPerNode" in item and is_legacy(api_version):
        return {"maxTasksPerNode": item["taskSlotsPerNode"]}
    return {}


def task_counts(api_version: str, counts: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The task counts' entity name and fields for this api-version: TaskCounts at the top
    level before 2020-09-01, TaskCountsResult since."""
    if is_legacy(api_version):
        return "TaskCounts", dict(counts["taskCounts"])
    return "TaskCountsResult", counts
