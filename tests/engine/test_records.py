"""Run records read back: torn lines skipped, last line of a task wins, ids sort by time."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from batchflow.engine.records import (
    RECORD,
    RecordWriter,
    TaskRecord,
    new_run_id,
    read_record,
)


def test_a_torn_last_line_is_skipped_and_the_last_task_line_wins(tmp_path: Path) -> None:
    w = RecordWriter(tmp_path / "r1")
    w.write("start", spec="a.yaml", total=2, started="2026-01-01T00:00:00+00:00")
    w.task(TaskRecord("t0", None, "running"))
    w.task(
        TaskRecord(
            "t0",
            None,
            "completed",
            result="success",
            start="2026-01-01T00:00:00+00:00",
            end="2026-01-01T00:00:02+00:00",
        )
    )
    w.close()
    with (tmp_path / "r1" / RECORD).open("a") as fh:
        fh.write('{"kind":"task","id":"t1","sta')  # killed mid-write
    rec = read_record(tmp_path / "r1")
    assert rec.outcome == "running" and rec.total == 2 and list(rec.tasks) == ["t0"]
    assert rec.tasks["t0"].result == "success" and rec.tasks["t0"].seconds == 2.0


def test_run_ids_sort_by_time() -> None:
    t = _dt.datetime(2026, 1, 1, 9, 59, 59, 999000, tzinfo=_dt.timezone.utc)
    later = t + _dt.timedelta(milliseconds=1)
    assert new_run_id(t) < new_run_id(later)
