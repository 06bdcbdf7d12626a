"""Durations: the short forms people write and ISO 8601, as seconds and back."""

from __future__ import annotations

import pytest

from batchflow.spec.durations import DurationError, iso_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        (" 1d 2h ", 93600),
        ("PT30M", 1800),
        ("P1DT2H", 93600),
        ("PT1.5S", 2),
        ("P1W", 604800),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "forever", "P", "PT", "P1DT", "-5m", "5 minutes"])
def test_not_durations(text: str) -> None:
    with pytest.raises(DurationError, match="is not a duration"):
        parse_duration(text)


def test_years_and_months_are_refused_with_a_reason() -> None:
    with pytest.raises(DurationError, match="no fixed length"):
        parse_duration("P1M")


@pytest.mark.parametrize(
    ("seconds", "iso"), [(0, "PT0S"), (90, "PT1M30S"), (3600, "PT1H"), (90061, "P1DT1H1M1S")]
)
def test_iso_round_trip(seconds: int, iso: str) -> None:
    assert iso_duration(seconds) == iso
    assert parse_duration(iso) == seconds
