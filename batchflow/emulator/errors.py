"""Errors shaped exactly like the Batch service's BatchError JSON, built by named constructors.

Wire shape (what both SDK generations parse)::

    {"odata.metadata": ".../$metadata#Microsoft.Azure.Batch.Protocol.Entities...",
     "code": "PoolExists",
     "message": {"lang": "en-US",
                 "value": "The specified pool already exists.\\nRequestId:...\\nTime:..."},
     "values": [{"key": "...", "value": "..."}]}
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Sequence
from typing import Any


class BatchServiceError(Exception):
    """An error response: HTTP ``status``, service ``code``, message and detail values."""

    def __init__(
        self, status: int, code: str, message: str, values: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.values = tuple(values)

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """The JSON body the service would send for this error."""
        rid = request_id or str(uuid.uuid4())
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        body: dict[str, Any] = {
            "odata.metadata": "https://batch.local/$metadata"
            "#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            "code": self.code,
            "message": {"lang": "en-US", "value": f"{self.message}\nRequestId:{rid}\nTime:{now}"},
        }
        if self.values:
            body["values"] = [{"key": k, "value": v} for k, v in self.values]
        return body

    def inner(self) -> dict[str, Any]:
        """The error as a field of another answer (a task collection's per-task ``error``):
        the BatchError alone, without the OData envelope of a whole answer."""
        body = self.body()
        del body["odata.metadata"]
        return body


def _e(status: int, code: str, message: str, *values: tuple[str, str]) -> BatchServiceError:
    return BatchServiceError(status, code, message, values)


# --- 400 ---------------------------------------------------------------------------------
def invalid_request_body(detail: str) -> BatchServiceError:
    return _e(
        400,
        "InvalidRequestBody",
        "The specified Request Body is not syntactically valid.",
        ("Reason", detail),
    )


def missing_required_property(name: str) -> BatchServiceError:
    return _e(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        ("PropertyName", name),
    )


def invalid_property_value(name: str, value: object, reason: str = "") -> BatchServiceError:
    values = [("PropertyName", name), ("PropertyValue", str(value))]
    if reason:
        values.append(("Reason", reason))
    return _e(
        400,
        "InvalidPropertyValue",
        "The value provided for one of the properties in the request body is invalid.",
        *values,
    )


def unsupported_property(name: str, hint: str = "") -> BatchServiceError:
    """A field the real service accepts but this emulator does not implement: refused, loudly."""
    reason = f"The local Batch emulator does not support '{name}'."
    if hint:
        reason = f"{reason} {hint}"
    return _e(400, "InvalidPropertyValue", reason, ("PropertyName", name), ("Reason", reason))


def unknown_property(name: str) -> BatchServiceError:
    return _e(
        400,
        "InvalidRequestBody",
        "The specified Request Body is not syntactically valid.",
        ("PropertyName", name),
        ("Reason", f"Unknown property '{name}'."),
    )


def invalid_query_parameter(name: str, value: str, reason: str = "") -> BatchServiceError:
    values = [("QueryParameterName", name), ("QueryParameterValue", value)]
    if reason:
        values.append(("Reason", reason))
    return _e(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        *values,
    )


def invalid_header(name: str, value: str) -> BatchServiceError:
    return _e(
        400,
        "InvalidHeaderValue",
        "The value for one of the HTTP headers is not in the correct format.",
        ("HeaderName", name),
        ("HeaderValue", value),
    )


def unsupported_api_version(value: str) -> BatchServiceError:
    return invalid_query_parameter("api-version", value, "Unsupported api-version.")


def invalid_operation(message: str) -> BatchServiceError:
    return _e(400, "OperationInvalidForCurrentState", message)


# --- 403 / 404 / 409 / 412 / 413 ----------------------------------------------------------
def authentication_failed(detail: str) -> BatchServiceError:
    return _e(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization "
        "header is formed correctly including the signature.",
        ("AuthenticationErrorDetail", detail),
    )


def resource_not_found(what: str = "") -> BatchServiceError:
    return _e(404, "ResourceNotFound", what or "The specified resource does not exist.")


def pool_not_found(pool_id: str) -> BatchServiceError:
    return _e(404, "PoolNotFound", "The specified pool does not exist.")


def node_not_found(node_id: str) -> BatchServiceError:
    return _e(404, "NodeNotFound", "The specified node does not exist.")


def job_not_found(job_id: str) -> BatchServiceError:
    return _e(404, "JobNotFound", "The specified job does not exist.")


def task_not_found(task_id: str) -> BatchServiceError:
    return _e(404, "TaskNotFound", "The specified task does not exist.")


def file_not_found(path: str) -> BatchServiceError:
    return _e(404, "FileNotFound", "The specified file does not exist.", ("FilePath", path))


def pool_exists(pool_id: str) -> BatchServiceError:
    return _e(409, "PoolExists", "The specified pool already exists.")


def pool_being_deleted(pool_id: str) -> BatchServiceError:
    return _e(
        409,
        "PoolBeingDeleted",
        "The specified pool has been marked for deletion and is being reclaimed.",
    )


def pool_being_resized(pool_id: str) -> BatchServiceError:
    return _e(
        409,
        "PoolBeingResized",
        "A pool operation was attempted which is not permitted when the pool is in the "
        "process of being resized.",
    )


def autoscale_enabled(pool_id: str) -> BatchServiceError:
    """Resizing a pool whose formula sets its size (no code of its own is published)."""
    return _e(
        409,
        "OperationInvalidForCurrentState",
        "The specified operation is not valid for the current state of the resource.",
        ("Reason", f"Pool '{pool_id}' has autoscale enabled: disable it before resizing."),
    )


def autoscale_not_enabled(pool_id: str) -> BatchServiceError:
    """Evaluating the formula of a pool without autoscale. The service publishes no code of
    its own for this (BatchErrorCodeStrings has none): its generic one for a wrong state."""
    return _e(
        409,
        "OperationInvalidForCurrentState",
        "The specified operation is not valid for the current state of the resource.",
        ("Reason", f"Autoscale is not enabled on pool '{pool_id}'."),
    )


def formula_error(code: str, message: str, values: Sequence[tuple[str, str]]) -> BatchServiceError:
    """An autoscale formula refused (syntax, length, settings): 400 with its located detail."""
    return BatchServiceError(400, code, message, values)


def job_exists(job_id: str) -> BatchServiceError:
    return _e(409, "JobExists", "The specified job already exists.")


def job_being_deleted(job_id: str) -> BatchServiceError:
    return _e(
        409,
        "JobBeingDeleted",
        "The specified job has been marked for deletion and is being reclaimed.",
    )


def job_being_terminated(job_id: str) -> BatchServiceError:
    return _e(409, "JobBeingTerminated", "The specified job is being terminated.")


def job_completed(job_id: str) -> BatchServiceError:
    return _e(409, "JobCompleted", "The specified job is already in a completed state.")


def task_exists(task_id: str) -> BatchServiceError:
    return _e(409, "TaskExists", "The specified task already exists.")


def task_completed(task_id: str) -> BatchServiceError:
    return _e(409, "TaskCompleted", "The specified task is already in a completed state.")


def condition_not_met() -> BatchServiceError:
    return _e(
        412,
        "ConditionNotMet",
        "The condition specified using HTTP conditional header(s) is not met.",
    )


def request_body_too_large(detail: str) -> BatchServiceError:
    return _e(
        413,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        ("MaxLimit", detail),
    )


def request_timeout(seconds: float) -> BatchServiceError:
    return _e(
        408,
        "RequestTimeout",
        "The request body was not received in time; the connection is closed.",
        ("TimeoutSeconds", f"{seconds:g}"),
    )


def server_busy() -> BatchServiceError:
    return _e(
        503,
        "ServerBusy",
        "The server is currently unable to receive requests. Please retry your request.",
    )


def internal_error() -> BatchServiceError:
    return _e(
        500,
        "InternalError",
        "Server encountered an internal error. Please try again after some time.",
    )


def service_stopped(reason: str) -> BatchServiceError:
    """The emulator stopped serving (its store failed, a thread of it died): the reason is
    the emulator's own, since a real account never meets it."""
    return _e(500, "InternalError", f"The emulator stopped serving: {reason}")


def task_dependencies_not_enabled(job_id: str) -> BatchServiceError:
    """A task with ``dependsOn`` added to a job created without ``usesTaskDependencies``."""
    return _e(
        409,
        "TaskDependenciesNotSpecifiedOnJob",
        "The specified job does not have task "
        "dependencies enabled (usesTaskDependencies is false).",
    )


# --- the node operations (reboot, users, files, applications) -----------------------------
_NODE_BUSY = {
    "creating": ("NodeBeingCreated", "The specified node is being created."),
    "starting": ("NodeBeingStarted", "The specified node is being started."),
    "rebooting": ("NodeBeingRebooted", "The specified node is being rebooted."),
    "reimaging": ("NodeBeingReimaged", "The specified node is being reimaged."),
    "unusable": ("NodeStateUnusable", "The state of the specified node is unusable."),
}


def node_state_conflict(state: str, operation: str) -> BatchServiceError:
    """409 for a node operation its state does not allow: the service's own code for a node
    being created, started, rebooted or reimaged, or an unusable one; else its generic one."""
    code, message = _NODE_BUSY.get(
        state,
        (
            "OperationInvalidForCurrentState",
            "The specified operation is not valid for the current state of the resource.",
        ),
    )
    return _e(409, code, message, ("NodeState", state), ("Operation", operation))


def node_already_in_scheduling_state(state: str) -> BatchServiceError:
    return _e(
        409,
        "NodeAlreadyInTargetSchedulingState",
        "The specified node is already in the target scheduling state.",
        ("SchedulingState", state),
    )


def node_user_not_found(name: str) -> BatchServiceError:
    return _e(404, "NodeUserNotFound", "The specified node user does not exist.")


def node_user_exists(name: str) -> BatchServiceError:
    return _e(409, "NodeUserExists", "The specified node user already exists.")


def node_users_limit(limit: int) -> BatchServiceError:
    """A node that has as many users as the emulator keeps: the service publishes no limit nor
    code for it, so its generic one for a wrong state, with the limit said."""
    return _e(
        409,
        "OperationInvalidForCurrentState",
        "The specified operation is not valid for the current state of the resource.",
        ("Reason", f"A node of the emulator holds at most {limit} users: delete one first."),
    )


def application_not_found(app_id: str) -> BatchServiceError:
    return _e(404, "ApplicationNotFound", "The specified application does not exist.")


def directory_not_empty(path: str) -> BatchServiceError:
    """Deleting a directory that has files in it, without ``recursive=true``: the service
    publishes no code of its own for it, so its generic one for a wrong state."""
    return _e(
        409,
        "OperationInvalidForCurrentState",
        "The specified operation is not valid for the current state of the resource.",
        ("FilePath", path),
        ("Reason", "The directory is not empty: delete it with recursive=true."),
    )


# --- job schedules (codes and messages of the service's error table) -------------------------
def job_schedule_not_found(schedule_id: str) -> BatchServiceError:
    return _e(404, "JobScheduleNotFound", "The specified job schedule does not exist.")


def job_schedule_exists(schedule_id: str) -> BatchServiceError:
    return _e(409, "JobScheduleExists", "The specified job schedule already exists.")


def job_with_same_id_exists(schedule_id: str) -> BatchServiceError:
    return _e(
        409,
        "JobWithSameIdExists",
        "A job with the specified job schedule id exists. Job and job schedule cannot have "
        "the same id.",
    )


def job_schedule_with_same_id_exists(job_id: str) -> BatchServiceError:
    return _e(
        409,
        "JobScheduleWithSameIdExists",
        "A job schedule with the specified job id exists. Job and job schedule cannot have "
        "the same id.",
    )


def job_schedule_being_deleted(schedule_id: str) -> BatchServiceError:
    return _e(
        409,
        "JobScheduleBeingDeleted",
        "The specified job schedule has been marked for deletion and is being reclaimed.",
    )


def job_schedule_being_terminated(schedule_id: str) -> BatchServiceError:
    return _e(409, "JobScheduleBeingTerminated", "The specified job schedule is being terminated.")


def job_schedule_completed(schedule_id: str) -> BatchServiceError:
    return _e(
        409, "JobScheduleCompleted", "The specified job schedule is already in completed state."
    )


def job_disabled(job_id: str) -> BatchServiceError:
    return _e(409, "JobDisabled", "The specified job is disabled.")


def job_not_active(job_id: str) -> BatchServiceError:
    return _e(409, "JobNotActive", "The specified job is not in active state.")


def active_job_and_schedule_quota_reached() -> BatchServiceError:
    return _e(
        409,
        "ActiveJobAndScheduleQuotaReached",
        "Active job and schedule quota for the account has been reached.",
    )
