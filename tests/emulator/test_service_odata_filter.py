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
