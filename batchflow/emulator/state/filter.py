"""The OData ``$filter`` subset Batch clients use, compiled to a parameterised SQL condition.

Supported: ``<field> eq|ne <literal>``, ``startswith(<field>, '<text>')``, ``and``, ``or`` and
parentheses; literals are single-quoted strings (``''`` escapes a quote), integers, true/false.
Fields are those the caller maps to columns (``state``, ``id``, ``executionInfo/result``...).
Anything else is refused with InvalidQueryParameterValue naming the unsupported part, never
ignored: a silently ignored filter would return wrong answers.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from batchflow.emulator import errors
from batchflow.emulator.kinds import Json
from batchflow.emulator.state.store import Page

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))"
)


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, str]) -> None:
        self.text = text
        self.fields = {k.lower(): v for k, v in fields.items()}
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.params: list[Any] = []

    def _fail(self, part: str) -> errors.BatchServiceError:
        return errors.invalid_query_parameter(
            "$filter",
            self.text,
            f"The local Batch emulator does not support '{part}' in "
            f"$filter (supported: eq, ne, startswith, and, or, parentheses on "
            f"{', '.join(sorted(self.fields))}).",
        )

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise self._fail(text[pos:].strip())
            kind = m.lastgroup or ""
            out.append((kind, m.group(kind)))
            pos = m.end()
        return out

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind:
            raise self._fail(tok[1] if tok else f"end of filter (expected {kind})")
        self.pos += 1
        return tok[1]

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].lower() == word:
            self.pos += 1
            return True
        return False

    def expr(self) -> str:
        parts = [self.term()]
        while self.keyword("or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def term(self) -> str:
        parts = [self.factor()]
        while self.keyword("and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def factor(self) -> str:
        tok = self.peek()
        if tok and tok[0] == "lp":
            self.pos += 1
            inner = self.expr()
            self.take("rp")
            return f"({inner})"
        if tok and tok[0] == "word" and tok[1].lower() == "startswith":
            self.pos += 1
            return self.startswith()
        return self.comparison()

    def column(self) -> str:
        name = self.take("word")
        column = self.fields.get(name.lower())
        if column is None:
            raise self._fail(name)
        return column

    def startswith(self) -> str:
        self.take("lp")
        column = self.column()
        self.take("comma")
        prefix = self.literal()
        self.take("rp")
        escaped = str(prefix).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self.params.append(escaped + "%")
        return f"{column} LIKE ? ESCAPE '\\'"

    def comparison(self) -> str:
        column = self.column()
        op = self.take("word").lower()
        if op not in ("eq", "ne"):
            raise self._fail(op)
        value = self.literal()
        self.params.append(value)
        if op == "eq":
            return f"{column} = ? COLLATE NOCASE"
        return f"({column} IS NULL OR {column} <> ? COLLATE NOCASE)"

    def literal(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self._fail("end of filter (expected a value)")
        self.pos += 1
        kind, text = tok
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return int(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return 1 if text.lower() == "true" else 0
        raise self._fail(text)


def compile_filter(text: str | None, fields: Mapping[str, str]) -> tuple[str, list[Any]]:
    """``(sql, params)`` for ``text``; ``("1=1", [])`` when there is no filter.

    ``fields`` maps OData property paths (case-insensitive) to trusted column names.
    """
    if text is None or not text.strip():
        return "1=1", []
    parser = _Parser(text, fields)
    sql = parser.expr()
    rest = parser.peek()
    if rest is not None:
        raise parser._fail(rest[1])
    return sql, parser.params


def filter_docs(
    docs: list[Json], text: str | None, fields: Mapping[str, str], start: int, limit: int
) -> Page:
    """A page of in-memory documents (the local nodes, which are not stored as documents),
    filtered with the same SQL semantics as the stored resources, on a throw-away table."""
    where, params = compile_filter(text, fields)
    mem = sqlite3.connect(":memory:")
    mem.execute("CREATE TABLE n (pos INTEGER, id TEXT, state TEXT)")
    mem.executemany(
        "INSERT INTO n VALUES (?, ?, ?)", [(i, d["id"], d["state"]) for i, d in enumerate(docs)]
    )
    rows = mem.execute(
        f"SELECT pos FROM n WHERE ({where}) AND pos >= ? ORDER BY pos "  # noqa: S608
        "LIMIT ?",
        (*params, start, limit + 1),
    ).fetchall()
    mem.close()
    more = len(rows) > limit
    picked = [docs[r[0]] for r in rows[:limit]]
    return Page(picked, str(rows[limit][0]) if more else None)


def filter_values(
    docs: Sequence[Json],
    values: Callable[[Json], Sequence[object]],
    text: str | None,
    fields: Mapping[str, str],
    start: int,
    limit: int,
) -> Page:
    """A page of in-memory documents filtered on ``fields`` (OData path -> column), whose
    columns, in ``fields``' order, ``values`` gives for each document (the supported images:
    read-only data, not stored)."""
    where, params = compile_filter(text, fields)
    columns = ", ".join(fields.values())
    marks = ", ".join("?" for _ in fields)
    mem = sqlite3.connect(":memory:")
    try:
        mem.execute(f"CREATE TABLE d (pos INTEGER, {columns})")
        mem.executemany(
            f"INSERT INTO d VALUES (?, {marks})",  # noqa: S608 (trusted column names)
            [(pos, *values(doc)) for pos, doc in enumerate(docs)],
        )
        rows = mem.execute(
            f"SELECT pos FROM d WHERE ({where}) AND pos >= ? ORDER BY pos LIMIT ?",  # noqa: S608
            (*params, start, limit + 1),
        ).fetchall()
    finally:
        mem.close()
    picked = [docs[r[0]] for r in rows[:limit]]
    return Page(picked, str(rows[limit][0]) if len(rows) > limit else None)
