"""Progress on stderr: with rich on a terminal (one bar per stage, the watch bar with task
counts); elsewhere (CI logs, a file) plain lines, one per stage event worth reading."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from batchflow.engine.events import Event, EventSink, RunningTasks, WatchProgress


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

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunningTasks):
            self.running = event.ids
            return
        bar = self.bars.get(event.stage)
        if bar is None:
            bar = self.progress.add_task("", stage=event.stage, total=None)
            self.bars[event.stage] = bar
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
        self.pace = Pace()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunningTasks):
            return  # the ids change all the time: a log gets the counts
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


def _plain_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@contextmanager
def progress_sink() -> Iterator[EventSink]:
    """A sink showing progress on stderr: rich bars on a terminal, plain lines otherwise (a
    squeezed layout is unreadable in a log). ``run --json`` shows it too: its JSON is on
    stdout, and a long run with no sign of life looks hung."""
    if not sys.stderr.isatty():
        yield PlainView(_plain_line)
        return
    view = _RichView()
    with view.progress:
        yield view
    sys.stderr.flush()
