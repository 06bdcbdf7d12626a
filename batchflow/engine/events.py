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


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A sink that drops every event (``--json``, tests)."""
    del event
