"""The $filter subset compiles to SQL with bound parameters, and refuses what it cannot honour."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.state.filter import compile_filter

FIELDS = {"id": "id", "state": "state", "executionInfo/result": "result"}
ROWS = [
    ("a", "active", None),
    ("b", "completed", "success"),
    ("c", "completed", "failure"),
    ("it's", "running", None),
]


def _ids(text: str | None) -> set[str]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id TEXT, state TEXT, result TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", ROWS)
    where, params = compile_filter(text, FIELDS)
    return {r[0] for r in db.execute(f"SELECT id FROM t WHERE {where}", params)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, {"a", "b", "c", "it's"}),
        ("state eq 'completed'", {"b", "c"}),
        ("executionInfo/result eq 'failure'", {"c"}),
        ("executionInfo/result ne 'failure'", {"a", "b", "it's"}),
        ("state eq 'completed' and executionInfo/result eq 'success'", {"b"}),
        ("(state eq 'active' or state eq 'running') and id ne 'a'", {"it's"}),
        ("id eq 'it''s'", {"it's"}),
        ("State EQ 'COMPLETED'", {"b", "c"}),
        ("startswith(id, 'i')", {"it's"}),
    ],
)
def test_supported_filters(text: str | None, expected: set[str]) -> None:
    assert _ids(text) == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("executionInfo/exitCode eq 1", "executionInfo/exitCode"),
        ("state gt 'a'", "gt"),
        ("not state eq 'a'", "not"),
        ("state eq 'a' xor id eq 'b'", "xor"),
        ("state eq", "end of filter"),
        ("state eq 'a' )", ")"),
        ("state eq 'a' ;", ";"),
    ],
)
def test_unsupported_filters_are_refused_by_name(text: str, named: str) -> None:
    with pytest.raises(BatchServiceError) as info:
        compile_filter(text, FIELDS)
    assert info.value.code == "InvalidQueryParameterValue"
    assert named in dict(info.value.values)["Reason"]


@given(st.text(max_size=40))
def test_any_value_is_bound_never_spliced(value: str) -> None:
    quoted = value.replace("'", "''")
    where, params = compile_filter(f"id eq '{quoted}'", FIELDS)
    assert params == [value]
    assert where == "id = ? COLLATE NOCASE"


TIMED = {**FIELDS, "stateTransitionTime": "at"}
STAMPS = [  # the emulator's own form (shapes.now)
    ("early", "2026-11-30T01:02:03.000000Z"),
    ("mid", "2026-11-30T01:02:03.123456Z"),
    ("late", "2026-11-30T01:02:04.500000Z"),
]


def _timed(text: str) -> set[str]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id TEXT, at TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", STAMPS)
    where, params = compile_filter(text, TIMED, frozenset({"stateTransitionTime"}))
    return {r[0] for r in db.execute(f"SELECT id FROM t WHERE {where}", params)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the service's documented literal, .NET's round-trip form (7 fractional digits)
        ("stateTransitionTime ge DateTime'2026-11-30T01:02:03.1234560Z'", {"mid", "late"}),
        ("stateTransitionTime gt DateTime'2026-11-30T01:02:03.1234560Z'", {"late"}),
        ("stateTransitionTime lt datetime'2026-11-30T01:02:03.1234567Z'", {"early", "mid"}),
        ("stateTransitionTime le DATETIME'2026-11-30T01:02:03Z'", {"early"}),
        ("stateTransitionTime eq DateTime'2026-11-30T01:02:03.123456Z'", {"mid"}),
        ("stateTransitionTime ne DateTime'2026-11-30T01:02:03.123456Z'", {"early", "late"}),
        ("stateTransitionTime ge '2026-11-30T01:02:04Z'", {"late"}),  # a plain quoted time
        ("stateTransitionTime ge DateTime'2026-11-30T02:02:04+01:00'", {"late"}),  # an offset
        ("statetransitiontime GE DateTime'2026-11-30T01:02:04' and id ne 'x'", {"late"}),
    ],
)
def test_a_time_field_compares_in_order(text: str, expected: set[str]) -> None:
    assert _timed(text) == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("stateTransitionTime ge DateTime'yesterday'", "DateTime'yesterday'"),
        ("stateTransitionTime ge 5", "5"),
        ("state ge DateTime'2026-11-30T01:02:03Z'", "ge"),  # only time fields are ordered
        ("stateTransitionTime startswith 'a'", "startswith"),
    ],
)
def test_a_time_field_refuses_what_is_no_time(text: str, named: str) -> None:
    with pytest.raises(BatchServiceError) as info:
        compile_filter(text, TIMED, frozenset({"stateTransitionTime"}))
    assert named in dict(info.value.values)["Reason"]


def test_a_field_not_named_as_a_time_is_not_ordered() -> None:
    with pytest.raises(BatchServiceError) as info:
        compile_filter("stateTransitionTime ge DateTime'2026-11-30T01:02:03Z'", TIMED)
    assert "'ge'" in dict(info.value.values)["Reason"]
