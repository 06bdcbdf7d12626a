"""The OData ``$filter`` subset Batch clients use, compiled to a parameterised SQL condition.

Supported: ``<field> eq|ne <literal>``, ``startswith(<field>, '<text>')``, ``and``, ``or`` and
parentheses; literals are single-quoted strings (``''`` escapes a quote), integers, true/false.
Fields are those the caller maps to columns (``state``, ``id``, ``executionInfo/result``...).
A DateTime field the caller names in ``times`` (``stateTransitionTime``) also takes ge, gt,
le and lt, with the service's literal ``DateTime'2026-11-30T01:02:03.1234567Z'`` (or a plain
quoted time); its column holds the emulator's own ``...%fZ`` form (microseconds), compared as
text to the literal rewritten to .NET's 7 fractional digits (the stored time given a 7th, 0).
Anything else is refused with InvalidQueryParameterValue naming the unsupported part, never
ignored: a silently ignored filter would return wrong answers.
"""

from __future__ import annotations

import datetime as _dt
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from batchflow.emulator import errors
from batchflow.emulator.kinds import Json
from batchflow.emulator.state.store import Page

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)"
    r"|(?P<time>(?i:datetime)'[^']*')|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))"
)
_TIME = re.compile(r"([^.Zz+]+?)(\.\d+)?([Zz]|[+-]\d\d:\d\d)?")
_ORDER = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_TIME_CHARS = 26  # 2026-11-30T01:02:03.123456: the stored time up to its microseconds


class _Parser:
    def __init__(
        self, text: str, fields: Mapping[str, str], times: frozenset[str] = frozenset()
    ) -> None:
        self.text = text
        self.fields = {k.lower(): v for k, v in fields.items()}
        self.times = frozenset(t.lower() for t in times)
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.params: list[Any] = []

    def _fail(self, part: str) -> errors.BatchServiceError:
        return errors.invalid_query_parameter(
            "$filter",
            self.text,
            f"The local Batch emulator does not support '{part}' in "
            f"$filter (supported: eq, ne, startswith, and, or, parentheses on "
            f"{', '.join(sorted(self.fields))}{self._ordered()}).",
        )

    def _ordered(self) -> str:
        names = [k for k in self.fields if k in self.times]
        return f"; ge, gt, le, lt on {', '.join(sorted(names))}" if names else ""

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
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].lower() in self.times:
            return self.time_comparison()
        column = self.column()
        op = self.take("word").lower()
        if op not in ("eq", "ne"):
            raise self._fail(op)
        value = self.literal()
        self.params.append(value)
        if op == "eq":
            return f"{column} = ? COLLATE NOCASE"
        return f"({column} IS NULL OR {column} <> ? COLLATE NOCASE)"

    def time_comparison(self) -> str:
        column = f"(substr({self.column()}, 1, {_TIME_CHARS}) || '0')"
        op = self.take("word").lower()
        if op not in ("eq", "ne", *_ORDER):
            raise self._fail(op)
        self.params.append(self.time_literal())
        if op == "eq":
            return f"{column} = ?"
        if op == "ne":
            return f"({column} IS NULL OR {column} <> ?)"
        return f"{column} {_ORDER[op]} ?"

    def time_literal(self) -> str:
        tok = self.peek()
        if tok is None or tok[0] not in ("time", "str"):
            raise self._fail(tok[1] if tok else "end of filter (expected a DateTime value)")
        self.pos += 1
        # .NET's round-trip form has 7 fractional digits: Python reads at most 6.
        parts = _TIME.fullmatch(tok[1][tok[1].index("'") + 1 : -1].strip())
        try:
            if parts is None:
                raise ValueError
            whole, fraction, zone = parts.groups()
            fraction = (fraction or ".").ljust(8, "0")  # .1234567: tenths of microseconds
            zone = "+00:00" if zone in ("Z", "z") else zone
            when = _dt.datetime.fromisoformat(whole + fraction[:7] + (zone or ""))
        except ValueError:
            raise self._fail(tok[1]) from None
        if when.tzinfo is not None:
            when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + fraction[7]

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


def compile_filter(
    text: str | None, fields: Mapping[str, str], times: frozenset[str] = frozenset()
) -> tuple[str, list[Any]]:
    """``(sql, params)`` for ``text``; ``("1=1", [])`` when there is no filter.

    ``fields`` maps OData property paths (case-insensitive) to trusted column names (or SQL
    expressions); those named in ``times`` are DateTime fields (see the module docstring).
    """
    if text is None or not text.strip():
        return "1=1", []
    parser = _Parser(text, fields, times)
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
