"""Statistics (``$expand=stats``) shaped as the 2025-06-01 definitions shape them
(``BatchTaskStatistics``, ``BatchJobStatistics``, ``BatchPoolStatistics``), with real figures
where the emulator knows them: a task's wall clock and wait times, a job's succeeded, failed
and retried tasks and their summed times, a pool's dedicated core time (its current nodes'
time since allocation times their size's cores). CPU times and I/O are not measured: zero.
"""

from __future__ import annotations

import datetime as _dt

from batchflow.emulator import shapes
from batchflow.emulator.kinds import Json, TaskResult, TaskState
from batchflow.emulator.state import quotas, rows
from batchflow.emulator.state.core import Core

_ZERO = "PT0S"


def _time(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _between(start: str | None, end: str | None) -> float:
    """Seconds from ``start`` to ``end`` (now when None); 0 without a start."""
    if not start:
        return 0.0
    return max(0.0, (_time(end or shapes.now()) - _time(start)).total_seconds())


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _unmeasured(url: str, start: str) -> Json:
    return {
        "url": url,
        "startTime": start,
        "lastUpdateTime": shapes.now(),
        "userCPUTime": _ZERO,
        "kernelCPUTime": _ZERO,
        "readIOps": "0",
        "writeIOps": "0",
        "readIOGiB": 0.0,
        "writeIOGiB": 0.0,
    }


def _task_times(doc: Json) -> tuple[float, float]:
    """(wall clock, wait) seconds of a task's latest attempt."""
    info = doc.get("executionInfo") or {}
    started = info.get("startTime")
    wall = _between(started, info.get("endTime"))
    wait = _between(doc.get("creationTime"), started)
    return wall, wait


def task_stats(doc: Json, url: str) -> Json:
    """``BatchTaskStatistics`` of a task document."""
    wall, wait = _task_times(doc)
    return {
        **_unmeasured(url, str(doc.get("creationTime"))),
        "wallClockTime": _duration(wall),
        "waitTime": _duration(wait),
    }


def job_stats(core: Core, doc: Json, url: str) -> Json:
    """``BatchJobStatistics`` of a job document (its tasks are read: only when asked)."""
    succeeded = failed = retries = 0
    wall = wait = 0.0
    for task in rows.job_task_docs(core.store, str(doc["id"])):
        info = task.get("executionInfo") or {}
        retries += int(info.get("retryCount") or 0)
        if task.get("state") == TaskState.COMPLETED:
            succeeded += info.get("result") == TaskResult.SUCCESS
            failed += info.get("result") == TaskResult.FAILURE
        task_wall, task_wait = _task_times(task)
        wall, wait = wall + task_wall, wait + task_wait
    return {
        **_unmeasured(url, str(doc.get("creationTime"))),
        "wallClockTime": _duration(wall),
        "waitTime": _duration(wait),
        "numSucceededTasks": str(succeeded),
        "numFailedTasks": str(failed),
        "numTaskRetries": str(retries),
    }


def pool_stats(core: Core, doc: Json, url: str) -> Json:
    """``BatchPoolStatistics`` of a pool document (``usageStats`` only: the resource figures
    are not measured)."""
    cores = quotas.vm_size(str(doc.get("vmSize", ""))).cores
    with core.lock:
        nodes = list(core.nodes.get(str(doc["id"]).lower(), []))
    seconds = sum(_between(n.allocation_time, None) for n in nodes if n.dedicated) * cores
    now = shapes.now()
    start = str(doc.get("creationTime"))
    usage = {"startTime": start, "lastUpdateTime": now, "dedicatedCoreTime": _duration(seconds)}
    return {"url": url, "startTime": start, "lastUpdateTime": now, "usageStats": usage}
