"""Request-body validation: every Batch body against the 2025-06-01 API's definitions
(``schema``: known fields, types, required fields, enum values, ranges, what a local process
cannot honour), the emulator's control bodies against small hand-written schemas (``body_check``).

Enum values are matched case-insensitively and rewritten to their canonical wire value, so the
state only ever sees ``terminatejob``, never ``terminateJob``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from batchflow.emulator import errors
from batchflow.emulator.http import schema
from batchflow.emulator.http.body_check import (
    MAX_NODES,
    Int,
    ListOf,
    Obj,
    OneOf,
    Spec,
    check_object,
)
from batchflow.emulator.kinds import Json

__all__ = [
    "MAX_NODES",
    "Body",
    "Int",
    "ListOf",
    "Obj",
    "OneOf",
    "validate",
    "validate_task_collection",
]


@dataclass(frozen=True)
class Body:
    """A Batch request body: the name of its definition in the 2025-06-01 API."""

    definition: str


def _obj(
    required: str = "",
    unsupported: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    **fields: Spec,
) -> Obj:
    return Obj(fields, frozenset(required.split()), unsupported or {}, aliases or {})


# --- Batch request bodies (the 2025-06-01 definitions) -------------------------------------
POOL_ADD = Body("BatchPoolCreateOptions")
POOL_PATCH = Body("BatchPoolUpdateOptions")
POOL_UPDATE_PROPERTIES = Body("BatchPoolReplaceOptions")
POOL_RESIZE = Body("BatchPoolResizeOptions")
POOL_REMOVE_NODES = Body("BatchNodeRemoveOptions")
POOL_ENABLE_AUTOSCALE = Body("BatchPoolEnableAutoScaleOptions")
POOL_EVALUATE_AUTOSCALE = Body("BatchPoolEvaluateAutoScaleOptions")
JOB_ADD = Body("BatchJobCreateOptions")
JOB_PATCH = Body("BatchJobUpdateOptions")
JOB_UPDATE = Body("BatchJob")  # PUT: a job whose read-only properties are ignored
JOB_DISABLE = Body("BatchJobDisableOptions")
JOB_TERMINATE = Body("BatchJobTerminateOptions")
TASK_ADD = Body("BatchTaskCreateOptions")
TASK_UPDATE = Body("BatchTask")  # PUT: only constraints are not read-only
JOB_SCHEDULE_ADD = Body("BatchJobScheduleCreateOptions")
JOB_SCHEDULE_PATCH = Body("BatchJobScheduleUpdateOptions")
JOB_SCHEDULE_UPDATE = Body("BatchJobSchedule")  # PUT, as JOB_UPDATE
NODE_USER_ADD = Body("BatchNodeUserCreateOptions")
NODE_USER_UPDATE = Body("BatchNodeUserUpdateOptions")
NODE_REBOOT = Body("BatchNodeRebootOptions")
NODE_REIMAGE = Body("BatchNodeReimageOptions")
NODE_DISABLE_SCHEDULING = Body("BatchNodeDisableSchedulingOptions")
NODE_DEALLOCATE = Body("BatchNodeDeallocateOptions")
NODE_UPLOAD_LOGS = Body("UploadBatchServiceLogsOptions")


# --- the emulator's own bodies ------------------------------------------------------------
TASK_COLLECTION = _obj("value", value="any")
CONTROL_FAULTS = _obj(
    errorRate="any", status="int", dropRate="any", operations=ListOf("str"), seed="int"
)
CONTROL_LOSE_NODE = _obj("poolId", poolId="str", nodeId="str")
CONTROL_CLOCK = _obj("speed", speed="any")
CONTROL_AUTOSCALE = _obj("poolId", poolId="str")
CONTROL_SCHEDULE = _obj("jobScheduleId", jobScheduleId="str")
CONTROL_QUOTAS = _obj(
    profile=OneOf(("default", "new-account")),
    dedicatedCoresPerFamily=ListOf(_obj("family cores", family="str", cores=Int(0))),
    dedicatedCores=Int(0),
    lowPriorityCores=Int(0),
    activeJobAndJobScheduleQuota=Int(0),
)
CONTROL_ALLOCATION = _obj(failure=OneOf(("AllocationFailed", "AllocationTimedout", "none")))


def validate(body: object, spec: Obj | Body) -> Json:
    """The body, checked against ``spec``, enum values canonical. Raises a 400 naming the field.

    A Batch body is made canonical in place (it is the request's own parsed copy)."""
    if not isinstance(body, dict):
        raise errors.invalid_request_body("The request body must be a JSON object.")
    if isinstance(spec, Obj):
        return check_object(body, spec)
    problem = schema.first_error(spec.definition, body)
    if problem is not None:
        raise problem
    return body


def validate_task_collection(body: object) -> list[object]:
    """The raw task bodies of an addtaskcollection request (each checked later, on its own,
    so one bad task becomes one ``clienterror`` result, not a failed request)."""
    checked = validate(body, TASK_COLLECTION)
    tasks = checked["value"]
    if not isinstance(tasks, list):
        raise errors.invalid_property_value("value", tasks, "Expected a JSON array of tasks.")
    return tasks
