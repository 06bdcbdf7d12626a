"""Progress on stderr: with rich on a terminal (one bar per stage, the watch bar with task
counts, a row per step of a workflow); elsewhere (CI logs, a file) plain lines, one per stage
event worth reading. ``run --events`` adds NDJSON events on stdout, for machines."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from batchflow.engine.events import (
    Event,
    EventSink,
    RunningTasks,
    StageDone,
    StepCounts,
    StepProgress,
    TaskFinished,
    WatchProgress,
)


class _RichView:
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.table import Column

        self.progress = Progress(
            TextColumn("{task.fields[stage]}", table_column=Column(min_width=8, no_wrap=True)),
            BarColumn(bar_width=20),
            MofNCompleteColumn(table_column=Column(min_width=9, no_wrap=True)),
            TextColumn("{task.description}", table_column=Column(ratio=1, no_wrap=True)),
            console=Console(stderr=True),
            transient=False,
            expand=True,
            refresh_per_second=4,  # the emulator shares this process (and its GIL)
        )
        self.bars: dict[str, Any] = {}
        self.running: tuple[str, ...] = ()
        self.pace = Pace()

    def _bar(self, key: str, label: str) -> Any:
        bar = self.bars.get(key)
        if bar is None:
            bar = self.progress.add_task("", stage=label, total=None)
            self.bars[key] = bar
        return bar

    def _steps(self, event: StepProgress) -> None:
        """A row per step under the watch bar (made first, so the rows follow it)."""
        self._bar(event.stage, event.stage)
        when = "" if event.final else f" · as of {time.strftime('%H:%M:%S')}"
        for step in event.steps:
            bar = self._bar(f"step {step.name}", f"  {step.name}")
            grows = " · dynamic, growing" if step.dynamic and not event.final else ""
            text = (
                f"[green]{step.succeeded} ok[/] [red]{step.failed} failed[/] "
                f"{step.running} running {step.waiting} waiting{grows}{when}"
            )
            done = step.succeeded + step.failed
            self.progress.update(bar, description=text, completed=done, total=step.total or None)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunningTasks):
            self.running = event.ids
            return
        if isinstance(event, StepProgress):
            self._steps(event)
            return
        if isinstance(event, TaskFinished):
            return  # the counts say it
        bar = self._bar(event.stage, event.stage)
        text = event.message
        if isinstance(event, WatchProgress):
            ids = f" ({', '.join(self.running)})" if event.running and self.running else ""
            text = (
                f"[green]{event.succeeded} ok[/] [red]{event.failed} failed[/] "
                f"{event.running} running{ids} {event.active} queued · {self.pace.text(event)}"
            )
        if event.message == "done":
            # A stage without counts is all done; one with counts shows what was done (a
            # full watch bar for tasks that never ran would be a lie).
            if self.progress.tasks[bar].total is None:
                self.progress.update(bar, completed=1, total=1)
            return
        if not event.total and self.progress.tasks[bar].total is not None:
            # A message without counts ("1 task cannot run") keeps the bar's counts.
            self.progress.update(bar, description=text)
            return
        self.progress.update(bar, description=text, completed=event.done, total=event.total or None)


class Pace:
    """Elapsed time of the watch and an ETA from its throughput so far."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock, self.t0 = clock, clock()

    def text(self, event: WatchProgress) -> str:
        """``elapsed 1m05s, ETA 2m10s`` (no ETA before the first task completes)."""
        spent = self.clock() - self.t0
        left = event.total - event.done
        eta = f", ETA {_span(spent / event.done * left)}" if event.done and left > 0 else ""
        return f"elapsed {_span(spent)}{eta}"


def _span(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class PlainView:
    """``stage: message`` lines: a stage's first and last events and anything that changes
    its message, but at most one progress line per stage every ``interval`` seconds."""

    def __init__(self, write: Callable[[str], None], interval: float = 2.0) -> None:
        self.write, self.interval = write, interval
        self.last: dict[str, tuple[str, float]] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, (RunningTasks, TaskFinished)):
            return  # the ids change all the time: a log gets the counts
        if isinstance(event, StepProgress):
            for step in event.steps:
                self._line(f"step {step.name}", _step_text(step, event.final), event.final)
            return
        text = event.message
        if isinstance(event, WatchProgress):
            text = (
                f"{event.succeeded} succeeded, {event.failed} failed, {event.running} running, "
                f"{event.active} waiting ({event.done} of {event.total} done)"
            )
        now = time.monotonic()
        seen = self.last.get(event.stage)
        if seen is not None and seen[0] == text:
            return
        final = text == "done" or (event.total and event.done >= event.total)
        if seen is not None and not final and now - seen[1] < self.interval and event.done:
            return
        self.last[event.stage] = (text, now)
        self.write(f"{event.stage}: {text}")

    def _line(self, key: str, text: str, final: bool) -> None:
        """A step's line when its counts changed, at most one per ``interval`` seconds
        (the last listing's is always written)."""
        now = time.monotonic()
        seen = self.last.get(key)
        if seen is not None and (seen[0] == text or (not final and now - seen[1] < self.interval)):
            return
        self.last[key] = (text, now)
        self.write(f"{key}: {text}")


def _step_text(step: StepCounts, final: bool) -> str:
    grows = "; dynamic, growing" if step.dynamic and not final else ""
    return (
        f"{step.succeeded} succeeded, {step.failed} failed, {step.running} running, "
        f"{step.waiting} waiting ({step.succeeded + step.failed} of {step.total} done{grows})"
    )


class EventStream:
    """``run --events``: each event as one JSON object per line (NDJSON) on ``write``;
    ``t`` is seconds since the run began. Watch counts only when they change."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write, self.t0 = write, time.monotonic()
        self.counts: dict[str, object] = {}
        self.ended = False  # the last line (``summary`` or ``end``) was written

    def __call__(self, event: Event) -> None:
        record = _as_json(event)
        if record["event"] == "counts":
            if record == self.counts:
                return
            self.counts = record
        self.emit(record)

    def emit(self, record: dict[str, object]) -> None:
        """One line (the summary and the end go through here too)."""
        line = {"event": record["event"], "t": round(time.monotonic() - self.t0, 3)}
        self.ended = record["event"] in ("summary", "end")
        self.write(json.dumps({**line, **record}, separators=(",", ":")))


def _as_json(event: Event) -> dict[str, object]:
    if isinstance(event, WatchProgress):
        return {
            "event": "counts",
            "done": event.done,
            "total": event.total,
            "succeeded": event.succeeded,
            "failed": event.failed,
            "running": event.running,
            "waiting": event.active,
        }
    if isinstance(event, StepProgress):
        steps = [{**_step_json(s), "dynamic": s.dynamic} for s in event.steps]
        return {"event": "steps", "final": event.final, "steps": steps}
    if isinstance(event, TaskFinished):
        return {
            "event": "task",
            "id": event.task_id,
            "step": event.step,
            "state": event.message,
            "result": event.result,
            "exit_code": event.exit_code,
        }
    if isinstance(event, RunningTasks):
        return {"event": "running", "ids": list(event.ids)}
    if isinstance(event, StageDone):
        return {
            "event": "stage_done",
            "stage": event.stage,
            "message": event.message,
            "seconds": round(event.seconds, 3),
        }
    return {
        "event": "stage",
        "stage": event.stage,
        "message": event.message,
        "done": event.done,
        "total": event.total,
    }


def _step_json(s: StepCounts) -> dict[str, object]:
    return {
        "name": s.name,
        "total": s.total,
        "succeeded": s.succeeded,
        "failed": s.failed,
        "running": s.running,
        "waiting": s.waiting,
    }


def _plain_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def stdout_line(line: str) -> None:
    """One NDJSON line on stdout, flushed (a reader sees each event as it happens)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextmanager
def progress_sink(stream: EventStream | None = None) -> Iterator[EventSink]:
    """A sink showing progress on stderr: rich bars on a terminal, plain lines otherwise (a
    squeezed layout is unreadable in a log). ``run --json`` shows it too: its JSON is on
    stdout, and a long run with no sign of life looks hung. With ``stream`` (``--events``)
    every event goes to it as well."""
    if not sys.stderr.isatty():
        yield _both(PlainView(_plain_line), stream)
        return
    view = _RichView()
    with view.progress:
        yield _both(view, stream)
    sys.stderr.flush()


def _both(view: EventSink, stream: EventStream | None) -> EventSink:
    if stream is None:
        return view

    def sink(event: Event) -> None:
        stream(event)
        view(event)

    return sink
