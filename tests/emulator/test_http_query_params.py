"""A signed query parameter cannot be overridden by a second copy of it: a parameter given twice
is refused (400 naming it), whatever the signature covers. Raw signed requests."""

from __future__ import annotations

from typing import Any

import pytest

from batchflow.emulator.server import EmulatorServer
from tests.emulator.http_helpers import API, call


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("query"), nodes_max=1) as server:
        yield server


DUPLICATES = [
    ("/jobs", f"{API}&$filter=id eq 'a'&$filter=id ne 'a'", "$filter"),
    ("/jobs", f"{API}&$filter=&$filter=id ne 'a'", "$filter"),
    ("/jobs", f"{API}&%24filter=id eq 'a'&$filter=id ne 'a'", "$filter"),
    ("/jobs", f"{API}&maxresults=1&maxresults=1000", "maxresults"),
    ("/jobs", f"{API}&api-version=2018-12-01.8.0", "api-version"),
    ("/jobs", f"{API}&timeout=30&timeout=1", "timeout"),
    ("/pools", f"{API}&$select=id&$select=id,state", "$select"),
]


@pytest.mark.parametrize(("path", "query", "name"), DUPLICATES, ids=[d[1][22:] for d in DUPLICATES])
def test_a_parameter_given_twice_is_refused(emu: Any, path: str, query: str, name: str) -> None:
    resp = call(emu, "GET", path, query)  # signed over exactly this query string
    assert resp.status_code == 400, resp.text
    data = resp.json()
    values = {v["key"]: v["value"] for v in data.get("values", [])}
    assert data["code"] == "InvalidQueryParameterValue"
    assert values["QueryParameterName"] == name


def test_an_api_version_ending_in_a_newline_is_refused(emu: Any) -> None:
    resp = call(emu, "GET", "/jobs", "api-version=2025-06-01%0A")
    assert resp.status_code == 400, resp.text


def test_distinct_parameters_are_served(emu: Any) -> None:
    assert call(emu, "GET", "/jobs", f"{API}&$filter=id eq 'a'&maxresults=5").status_code == 200
