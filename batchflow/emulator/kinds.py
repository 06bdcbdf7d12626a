"""The vocabulary every part of the emulator shares: the ``Json`` document alias and the
states, results and reasons that the REST API spells as strings.

Each enum is a ``str`` (``class X(str, Enum)``: the package supports Python 3.10, before
``enum.StrEnum``), so a member is stored, compared and serialised as the wire's own string.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

Json = dict[str, Any]


class _Wire(str, Enum):
    """A string enum whose ``str()`` is its wire value (as ``enum.StrEnum`` does on 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


class PoolState(_Wire):
    ACTIVE = "active"
    DELETING = "deleting"


class AllocationState(_Wire):
    STEADY = "steady"
    RESIZING = "resizing"
    STOPPING = "stopping"


class NodeState(_Wire):
    """A local node's own states; ``READY`` shows as ``idle`` or ``running`` on the wire."""

    CREATING = "creating"
    STARTING = "starting"
    WAITING_FOR_START_TASK = "waitingforstarttask"
    START_TASK_FAILED = "starttaskfailed"
    UNUSABLE = "unusable"
    PREEMPTED = "preempted"
    READY = "ready"
    IDLE = "idle"
    RUNNING = "running"
    LEAVING_POOL = "leavingpool"
    REBOOTING = "rebooting"
    REIMAGING = "reimaging"
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"


class NodeAction(_Wire):
    """What the node API can do to one node that takes it out of service for a while."""

    REBOOT = "reboot"
    REIMAGE = "reimage"
    DEALLOCATE = "deallocate"


class JobState(_Wire):
    ACTIVE = "active"
    DISABLING = "disabling"
    DISABLED = "disabled"
    ENABLING = "enabling"
    TERMINATING = "terminating"
    COMPLETED = "completed"
    DELETING = "deleting"


class JobScheduleState(_Wire):
    ACTIVE = "active"
    DISABLED = "disabled"
    TERMINATING = "terminating"
    COMPLETED = "completed"
    DELETING = "deleting"


class TaskState(_Wire):
    ACTIVE = "active"
    PREPARING = "preparing"
    RUNNING = "running"
    COMPLETED = "completed"


class TaskResult(_Wire):
    SUCCESS = "success"
    FAILURE = "failure"


class FailureCategory(_Wire):
    USER_ERROR = "usererror"
    SERVER_ERROR = "servererror"


class PrepState(_Wire):
    """Where a node stands with a job's preparation task (run once per node and job)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class KillReason(_Wire):
    """Why the service stops a task's process."""

    TERMINATE = "terminate"
    WALLTIME = "walltime"
    REQUEUE = "requeue"
    DELETE = "delete"
    SHUTDOWN = "shutdown"


# The kills after which the task's state belongs to whoever killed it (its node or job went,
# or the service stopped): the attempt reports nothing, and a job preparation dies with it.
TAKEN_OVER = frozenset({KillReason.REQUEUE, KillReason.DELETE, KillReason.SHUTDOWN})
