"""Progress on stderr with rich: one bar per stage, the watch bar with task counts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from batchflow.engine.events import Event, EventSink, WatchProgress, ignore


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

    def __call__(self, event: Event) -> None:
        bar = self.bars.get(event.stage)
        if bar is None:
            bar = self.progress.add_task("", stage=event.stage, total=None)
            self.bars[event.stage] = bar
        text = event.message
        if isinstance(event, WatchProgress):
            text = (
                f"[green]{event.succeeded} ok[/] [red]{event.failed} failed[/] "
                f"{event.running} running {event.active} queued"
            )
        if event.message == "done":
            total = self.progress.tasks[bar].total or 1
            self.progress.update(bar, completed=total, total=total)
            return
        self.progress.update(bar, description=text, completed=event.done, total=event.total or None)


@contextmanager
def progress_sink(enabled: bool) -> Iterator[EventSink]:
    """A sink drawing progress on stderr (or dropping events when not ``enabled``)."""
    if not enabled:
        yield ignore
        return
    view = _RichView()
    with view.progress:
        yield view
    sys.stderr.flush()
