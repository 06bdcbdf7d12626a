"""Small REST-shape helpers shared by the service core: times, eTags, durations, failureInfo.

The failure codes are the Batch service's own (``TaskFailureInformationCodes`` /
``TaskSchedulingErrorCodes`` in the Batch SDKs, and the task fail event docs):
``FailureExitCode`` for a non-zero exit, ``TaskEnded`` when the service ended the task (user
terminate, or ``maxWallClockTime``: documented as category ServerError), ``CommandProgramNotFound``,
``CommandLaunchFailed``, ``BlobNotFound``/``BlobAccessDenied``/``BlobDownloadMiscError``/
``ResourceFileCreateFailed`` for resource files, ``FileUploadContainerNotFound``/
``FileUploadMiscError`` for output files.
"""

from __future__ import annotations

import datetime as _dt
import functools
import itertools
import threading
import time
from typing import Any

import isodate

from batchflow.emulator.kinds import (
    AllocationState,
    FailureCategory,
    JobScheduleState,
    JobState,
    Json,
    PoolState,
    TaskState,
)

_etag_lock = threading.Lock()
_etag_counter = itertools.count()


def now() -> str:
    """The current UTC time the way the service writes it (``2024-01-02T03:04:05.123456Z``)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_etag() -> str:
    """A fresh, strictly increasing eTag in the service's ``0x8D...`` style."""
    with _etag_lock:
        n = next(_etag_counter)
    return f"0x8D{time.time_ns() // 1000:013X}{n % 4096:03X}"


def stamp(doc: Json, created: bool = False) -> Json:
    """Set ``eTag`` and ``lastModified`` (and ``creationTime`` on create) on a resource doc."""
    t = now()
    doc["eTag"] = new_etag()
    doc["lastModified"] = t
    if created:
        doc["creationTime"] = t
    return doc


def set_state(
    doc: Json,
    state: PoolState | AllocationState | JobState | JobScheduleState | TaskState,
    key: str = "state",
) -> None:
    """Move ``doc`` to ``state`` keeping previousState/... as Batch reports them."""
    t = now()
    if key == "state" and doc.get("state") not in (None, state):
        doc["previousState"] = doc["state"]
        doc["previousStateTransitionTime"] = doc.get("stateTransitionTime", t)
    doc[key] = state
    doc[f"{key}TransitionTime"] = t


@functools.lru_cache(maxsize=256)
def seconds(duration: str | None) -> float | None:
    """An ISO 8601 duration (``PT1S``, ``P10675199DT2H48M5.4775807S``) in seconds; None if unset."""
    if not duration:
        return None
    value = isodate.parse_duration(duration)
    total = float(value.total_seconds())
    if isinstance(value, isodate.Duration):
        # Years and months are not in Duration.total_seconds(): P1M read as 0. .NET's
        # XmlConvert.ToTimeSpan, the service's reading, counts 365 and 30 days.
        total += (float(value.years) * 365 + float(value.months) * 30) * 86400
    # The SDK's "unlimited" (timedelta.max) must not overflow timers.
    return None if total > 10 * 365 * 86400 else total


def failure(category: FailureCategory, code: str, message: str, detail: str | None = None) -> Json:
    """A ``BatchTaskFailureInfo``; ``detail`` goes in ``details`` as Batch does."""
    info: Json = {"category": category, "code": code, "message": message}
    if detail:
        info["details"] = [{"name": "Message", "value": detail}]
    return info


def exit_failure() -> Json:
    """failureInfo of a task whose process exited non-zero."""
    info = failure(
        FailureCategory.USER_ERROR,
        "FailureExitCode",
        "The task exited with an exit code representing a failure",
        "The task process exited with an unexpected exit code",
    )
    info["details"].append({"name": "AdditionalErrorCode", "value": "FailureExitCode"})
    return info


def user_terminated() -> Json:
    """failureInfo of a task ended by a terminate request (task or job)."""
    return failure(FailureCategory.USER_ERROR, "TaskEnded", "Task Was Ended by User Request")


def wall_clock_expired(limit: str) -> Json:
    """failureInfo of a task killed at its maxWallClockTime (Batch: ServerError/TaskEnded)."""
    return failure(
        FailureCategory.SERVER_ERROR,
        "TaskEnded",
        "The task was ended because it exceeded its maximum wall clock time",
        f"maxWallClockTime {limit} expired",
    )


def any_of(value: Any, *choices: str) -> bool:
    """Case-insensitive enum comparison (the SDKs send lower camel, docs show Pascal)."""
    return isinstance(value, str) and value.lower() in {c.lower() for c in choices}
