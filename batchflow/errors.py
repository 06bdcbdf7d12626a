"""The exceptions batchflow shows to its users.

Every failure a user can cause or meet is one of these; anything else reaching the error
boundary in ``batchflow.cli`` is a bug and is reported as such (exit 3, trace in a log file).

    BatchflowError                  base; ``exit_code`` picks the process exit status
     +-- UsageError                 bad command-line usage or configuration (exit 2)
     |    +-- ConfigError           a missing or malformed account setting (names the variable)
     |    +-- SpecMismatch          a pool/job exists but differs from the spec
     +-- SpecError                  one or more problems in a spec file (exit 2)
     +-- BackendError               a Batch or Storage call failed (exit 3): code, request id
     |    +-- NotFound              the resource does not exist
     |    +-- Conflict              the resource exists already / does not match
     |    +-- TransientError        throttling, 5xx, dropped connections: worth retrying
     +-- EnvironmentProblem         this machine cannot go on: disk full, where (exit 3)
     +-- WorkflowFailed             the work ran but did not succeed (exit 1): stage, tasks
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BatchflowError(Exception):
    """Base of every error batchflow reports to a user without a traceback."""

    exit_code = 3
    # Lines shown after the error's own (what the failed command left behind, e.g. a pool).
    notes: tuple[str, ...] = ()


class UsageError(BatchflowError):
    """The command line or the environment asks for something that cannot be done."""

    exit_code = 2


class ConfigError(UsageError):
    """An account setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a spec, located in its file.

    ``path`` is the dotted path to the offending node (``pool.nodes.dedicated``,
    ``tasks.outputs[0]``); ``line`` and ``col`` are 1-based, 0 when unknown.
    """

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecMismatch(UsageError):
    """A pool or job exists with settings that differ from the spec: the user resolves it
    (``batchflow down``, or a new id), so it is a usage error (exit 2), not a backend one."""

    def __init__(self, message: str, *, code: str = "") -> None:
        self.code = code
        super().__init__(message)


class SpecError(BatchflowError):
    """A spec has problems; all of them are carried, not only the first."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class BackendError(BatchflowError):
    """A call to Azure Batch, Blob Storage or the emulator failed.

    ``code`` is the service's error code (``PoolExists``, ``AuthenticationFailed``...),
    ``request_id`` the service's request id when there was one, to quote to support.
    """

    exit_code = 3

    def __init__(self, message: str, *, code: str = "", request_id: str = "") -> None:
        self.code = code
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        text = super().__str__()
        if self.code and self.code not in text:
            text = f"{text} ({self.code})"
        if self.request_id:
            text = f"{text} [request id {self.request_id}]"
        return text


class NotFound(BackendError):
    """The resource asked for does not exist."""


class Conflict(BackendError):
    """The resource exists already, or exists with settings that differ from the spec."""


class TransientError(BackendError):
    """Throttling, a server error or a dropped connection: the same call may succeed later."""


# TransientError.code when a request could not even be sent (refused, no such host): worth
# a retry, but not many, since a wrong endpoint looks exactly like this.
UNREACHABLE = "ServiceUnreachable"
# TransientError.code when the service took a request and gave no answer within the read
# timeout: the adapter retried it already, and every further try costs the whole timeout.
TIMED_OUT = "ServiceTimeout"


class EnvironmentProblem(BatchflowError):
    """The machine, not the spec nor a service, stops the run: a full disk, an unwritable
    state file. The message says what and where; freeing the resource and running again
    resumes the run."""

    exit_code = 3


@dataclass(frozen=True)
class FailedTask:
    """What a user needs to see about one failed task."""

    task_id: str
    exit_code: int | None
    category: str
    message: str
    stderr_tail: str


class WorkflowFailed(BatchflowError):
    """The run went through but some work did not succeed."""

    exit_code = 1

    def __init__(self, stage: str, message: str, tasks: Sequence[FailedTask] = ()) -> None:
        self.stage = stage
        self.tasks = tuple(tasks)
        super().__init__(message)
