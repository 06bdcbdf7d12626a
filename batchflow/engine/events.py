"""Progress events: what the engine reports while it works, for a progress bar or a log.

Stages call ``sink(Event(...))``; the command line decides how (or whether) to show them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Stage = str  # "inputs", "pool", "job", "tasks", "watch", "collect", "cleanup"


@dataclass(frozen=True)
class Event:
    """``stage`` did something: a message, and where it stands (``done`` of ``total``)."""

    stage: Stage
    message: str
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class WatchProgress(Event):
    """The watch stage's poll result: counts of the job's tasks."""

    succeeded: int = 0
    failed: int = 0
    running: int = 0
    active: int = 0


@dataclass(frozen=True)
class StageDone(Event):
    """A stage ended after ``seconds``: the last event of each stage (a run record's lap)."""

    seconds: float = 0.0


@dataclass(frozen=True)
class RunningTasks(Event):
    """Some of the tasks running now (ids, at most a few) and when the run started."""

    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepCounts:
    """One step's tasks as last listed: ``total`` is those in the job (a dynamic step's
    grows while the run goes); the rest wait (or are blocked by a failure)."""

    name: str
    total: int
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    dynamic: bool = False

    @property
    def waiting(self) -> int:
        """Tasks in the job that have neither completed nor started."""
        return max(0, self.total - self.succeeded - self.failed - self.running)


@dataclass(frozen=True)
class StepProgress(Event):
    """Each step's counts, from the recorder's listings (not from every poll: as fresh
    as its last listing, which ``final`` marks as the one after the watch ended)."""

    steps: tuple[StepCounts, ...] = ()
    final: bool = False


@dataclass(frozen=True)
class TaskFinished(Event):
    """A task seen completed for the first time (by the recorder's listing)."""

    task_id: str = ""
    step: str | None = None
    result: str | None = None  # "success" or "failure"
    exit_code: int | None = None


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A sink that drops every event (``--json``, tests)."""
    del event
