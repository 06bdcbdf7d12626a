"""``$expand=stats``: which resources have statistics, and the document with them added."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from batchflow.emulator import errors
from batchflow.emulator.kinds import Json
from batchflow.emulator.state import stats
from batchflow.emulator.state.core import Core

_OF: dict[str, Callable[[Core, Json, str], Json]] = {
    "pools": stats.pool_stats,
    "jobs": stats.job_stats,
    "tasks": lambda _core, doc, url: stats.task_stats(doc, url),
}


def expanded(core: Core, kind: str, item: Mapping[str, Any], url: str) -> Json:
    """``item`` with its ``stats``; a 400 for a resource that has none."""
    of = _OF.get(kind)
    if of is None:
        raise errors.invalid_query_parameter("$expand", "stats", f"The {kind} have no statistics.")
    return {**item, "stats": of(core, dict(item), f"{url}/stats")}
