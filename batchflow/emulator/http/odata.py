"""OData query options of list and get operations: ``$select``, ``maxresults``, paging.

``$filter`` is passed through raw to the state, which knows what it can filter on. Paging
tokens are opaque to this module; ``next_link`` turns one into an ABSOLUTE ``odata.nextLink``
that repeats every option of the first request, because azure-batch 15.x does not resend
``$select``/``maxresults`` on the next page and the msrest generation uses the link verbatim
(a relative link breaks it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from batchflow.emulator import errors

MAX_RESULTS = 1000
_SELECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(/[A-Za-z][A-Za-z0-9]*)*$")
# Query options the list operations understand; other "$" options are refused, not ignored.
_KNOWN_DOLLAR = frozenset({"$filter", "$select", "$skiptoken", "$expand"})
# $filter bounds: generous for real queries (ids of a few hundred tasks), far below what
# would exhaust the parser's recursion or SQLite's expression depth (1000).
MAX_FILTER_CHARS = 32 * 1024
MAX_FILTER_DEPTH = 32
MAX_FILTER_CLAUSES = 500
_MAX_TOKEN_DIGITS = 18  # fits SQLite's signed 64-bit integers
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_LOGICAL = re.compile(r"\b(?:and|or)\b", re.IGNORECASE)
_LONG_NUMBER = re.compile(rf"\d{{{_MAX_TOKEN_DIGITS + 1},}}")


@dataclass(frozen=True)
class ListQuery:
    """The options of one list request, as parsed from its query string."""

    filter: str | None
    select: tuple[str, ...]
    token: str | None
    limit: int
    expand: bool = False  # $expand=stats


def check_dollar_options(query: Mapping[str, str], allowed: frozenset[str]) -> None:
    """Refuse an OData option the operation does not implement, naming it."""
    for name in query:
        if name.startswith("$") and (name not in _KNOWN_DOLLAR or name not in allowed):
            raise errors.invalid_query_parameter(
                name, query[name], f"The local emulator does not support '{name}' here."
            )


def parse_select(value: str | None) -> tuple[str, ...]:
    """``$select=id,state,executionInfo/exitCode`` -> ("id", "state", "executionInfo/exitCode")."""
    if not value:
        return ()
    names = tuple(part.strip() for part in value.split(","))
    for name in names:
        if not _SELECT_NAME.match(name):
            raise errors.invalid_query_parameter(
                "$select",
                value,
                f"'{name}' is not a property path (use names like "
                "'id' or 'executionInfo/exitCode', separated by commas).",
            )
    return names


def parse_max_results(value: str | None) -> int:
    """``maxresults``: an integer from 1 to 1000, 1000 when absent."""
    if value is None:
        return MAX_RESULTS
    if not value.isdigit() or not 1 <= int(value) <= MAX_RESULTS:
        raise errors.invalid_query_parameter(
            "maxresults", value, f"Must be an integer from 1 to {MAX_RESULTS}."
        )
    return int(value)


def parse_skiptoken(value: str | None) -> str | None:
    """``$skiptoken``: only tokens the state hands out (row sequence numbers) come back."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= _MAX_TOKEN_DIGITS):
        raise errors.invalid_query_parameter(
            "$skiptoken", value, "Not a continuation token from a previous page of this list."
        )
    return value


def check_filter_size(value: str | None) -> str | None:
    """Bound ``$filter`` before anything parses it: its length, parenthesis depth, number of
    and/or clauses and integer literal width (a recursive parser and SQLite's expression
    depth must never be what refuses a hostile filter)."""
    if not value:
        return None
    problem = _filter_problem(value)
    if problem:
        raise errors.invalid_query_parameter("$filter", value[:200], problem)
    return value


def _filter_problem(text: str) -> str | None:
    if len(text) > MAX_FILTER_CHARS:
        return f"The filter is longer than {MAX_FILTER_CHARS} characters."
    outside = _STRING_LITERAL.sub("''", text)  # quoted text may hold anything
    depth = deepest = 0
    for char in outside:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    if deepest > MAX_FILTER_DEPTH:
        return f"The filter nests parentheses deeper than {MAX_FILTER_DEPTH} levels."
    if len(_LOGICAL.findall(outside)) > MAX_FILTER_CLAUSES:
        return f"The filter has more than {MAX_FILTER_CLAUSES} and/or clauses."
    if _LONG_NUMBER.search(outside):
        return f"An integer in the filter has more than {_MAX_TOKEN_DIGITS} digits."
    return None


def parse_expand(value: str | None) -> bool:
    """Whether ``$expand=stats`` asks for statistics (the one expansion Batch offers)."""
    if value is None:
        return False
    if value.strip().lower() != "stats":
        raise errors.invalid_query_parameter("$expand", value[:200], "Expected 'stats'.")
    return True


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """The list options of a request."""
    check_dollar_options(query, frozenset({"$filter", "$select", "$skiptoken", "$expand"}))
    return ListQuery(
        filter=check_filter_size(query.get("$filter")),
        select=parse_select(query.get("$select")),
        token=parse_skiptoken(query.get("$skiptoken")),
        limit=parse_max_results(query.get("maxresults")),
        expand=parse_expand(query.get("$expand")),
    )


def next_link(
    base_url: str,
    path: str,
    api_version: str,
    q: ListQuery,
    token: str | None,
    extra: Mapping[str, str] | None = None,
) -> str | None:
    """The absolute ``odata.nextLink`` for the page after this one, or None on the last page."""
    if token is None:
        return None
    params: list[tuple[str, str]] = [("api-version", api_version), ("$skiptoken", token)]
    params.append(("maxresults", str(q.limit)))
    if q.filter:
        params.append(("$filter", q.filter))
    if q.select:
        params.append(("$select", ",".join(q.select)))
    params.extend((extra or {}).items())
    query = "&".join(f"{k}={quote(v, safe=',')}" for k, v in params)
    return f"{base_url}{path}?{query}"


def project(item: Mapping[str, Any], select: tuple[str, ...]) -> dict[str, Any]:
    """Keep only the selected properties (``a/b`` keeps ``b`` inside ``a``)."""
    if not select:
        return dict(item)
    out: dict[str, Any] = {}
    for name in select:
        _copy_path(item, out, name.split("/"))
    return out


def _copy_path(src: Mapping[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if head not in src:
        return
    if len(parts) == 1:
        dst[head] = src[head]
        return
    inner = src[head]
    if isinstance(inner, Mapping):
        child = dst.setdefault(head, {})
        if isinstance(child, dict):
            _copy_path(inner, child, parts[1:])
