"""Sample methods over the metric history, and the error when too few samples are present."""

from __future__ import annotations

import datetime as dt

import pytest

from batchflow.emulator.autoscale import Metric, SampleStore
from tests.emulator.autoscale.helpers import NOW, pending, run, series, value

TWENTY = [float(i) for i in range(20)]  # ten minutes at 30 s


def test_ten_minutes_hold_twenty_samples() -> None:
    text = "x = $PendingTasks.GetSample(TimeInterval_Minute * 10);"
    assert value(text, samples=pending(TWENTY)) == "[" + ",".join(str(i) for i in range(20)) + "]"


def test_docs_95_percent_fails_80_succeeds_when_the_last_minute_is_missing() -> None:
    # "If the last minute of history was not available, only 18 samples would be returned."
    samples = {Metric.CPU_PERCENT: series(TWENTY[:18], gap_at_end=2)}
    assert (
        value("x = len($CPUPercent.GetSample(TimeInterval_Minute * 10));", samples=samples) == "18"
    )
    ok = run("x = $CPUPercent.GetSample(TimeInterval_Minute * 10, 80);", samples=samples)
    assert ok.error is None
    failed = run("x = $CPUPercent.GetSample(TimeInterval_Minute * 10, 95);", samples=samples)
    assert failed.error is not None and failed.error.code == "InsufficientSampleData"
    assert failed.error.values == (
        (
            "Message",
            "Line 1, Col 17: Insufficient data from data set: $CPUPercent wanted 95%, received 90%",
        ),
    )


def test_look_back_start_and_end() -> None:
    text = "x = $PendingTasks.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute, 75);"
    # Samples in (now-6min, now-1min]: ages 5.5 min ... 1 min, i.e. 10 samples.
    assert value(text, samples=pending(TWENTY)) == "[8,9,10,11,12,13,14,15,16,17]"
    reversed_ = "x = $PendingTasks.GetSample(6 * TimeInterval_Minute, 1 * TimeInterval_Minute);"
    assert value(reversed_, samples=pending(TWENTY)) == "[8,9,10,11,12,13,14,15,16,17]"


def test_timestamps_bound_a_window() -> None:
    since = 'x = len($PendingTasks.GetSample(time("2016-10-13T19:14:00Z")));'
    assert value(since, samples=pending(TWENTY)) == "10"  # ages 0 .. 4.5 min
    between = 'x = len($PendingTasks.GetSample(time("2016-10-13T19:14:00Z"), TimeInterval_Minute));'
    assert value(between, samples=pending(TWENTY)) == "8"  # ages 1 .. 4.5 min


def test_get_sample_count_takes_the_most_recent() -> None:
    assert value("x = $PendingTasks.GetSample(3);", samples=pending(TWENTY)) == "[17,18,19]"
    assert value("x = $PendingTasks.GetSample(50);", samples=pending([1, 2])) == "[1,2]"


def test_get_sample_percent_period_count_history_begin() -> None:
    samples = pending(TWENTY[:10], gap_at_end=0)
    assert (
        value("x = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10);", samples=samples)
        == "50"
    )
    assert (
        value(
            "x = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10,"
            " TimeInterval_Minute * 5);",
            samples=samples,
        )
        == "0"
    )
    assert value("x = $PendingTasks.GetSamplePeriod();", samples=samples) == "00:00:30"
    assert value("x = $PendingTasks.Count();", samples=samples) == "10"
    assert value("x = $PendingTasks.HistoryBeginTime();", samples=samples) == (
        "2016-10-13T19:14:17.805Z"
    )


def test_history_begin_time_without_samples_is_insufficient_data() -> None:
    result = run("x = $SucceededTasks.HistoryBeginTime();")
    assert result.error is not None and result.error.code == "InsufficientSampleData"


def test_store_records_trims_and_snapshots() -> None:
    store = SampleStore(max_samples=5)
    for i in range(12):
        moment = NOW - dt.timedelta(seconds=30 * (11 - i))
        store.record(moment, {Metric.PENDING_TASKS: i, Metric.RUNNING_TASKS: 1})
    snapshot = store.snapshot()
    assert snapshot[Metric.PENDING_TASKS].values == (7.0, 8.0, 9.0, 10.0, 11.0)
    assert value("x = $PendingTasks.Count();", samples=snapshot) == "5"
    with pytest.raises(ValueError, match="is not after the last"):
        store.record(NOW, {Metric.PENDING_TASKS: 1})
