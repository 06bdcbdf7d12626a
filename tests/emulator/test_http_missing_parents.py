"""A write to a pool or job that does not exist names what is missing (PoolNotFound,
JobNotFound) as the service does, not a generic ResourceNotFound: ``az batch pool set`` on a
mistyped pool id showed "The specified resource does not exist"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.http_helpers import call

FORMULA = {"autoScaleFormula": "$TargetDedicatedNodes=1;", "autoScaleEvaluationInterval": "PT5M"}
PROPERTIES = {"metadata": [], "certificateReferences": [], "applicationPackageReferences": []}


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("PATCH", "/pools/nope", {"metadata": []}, "PoolNotFound"),
        ("POST", "/pools/nope/updateproperties", PROPERTIES, "PoolNotFound"),
        ("POST", "/pools/nope/enableautoscale", FORMULA, "PoolNotFound"),
        ("POST", "/pools/nope/disableautoscale", None, "PoolNotFound"),
        ("POST", "/pools/nope/resize", {"targetDedicatedNodes": 1}, "PoolNotFound"),
        ("PATCH", "/jobs/nope", {"priority": 1}, "JobNotFound"),
        ("PUT", "/jobs/nope", {"poolInfo": {"poolId": "p"}}, "JobNotFound"),
        ("POST", "/jobs/nope/terminate", None, "JobNotFound"),
    ],
)
def test_a_write_to_a_missing_pool_or_job_names_it(
    emulator: Any, method: str, path: str, body: object, code: str
) -> None:
    resp = call(emulator, method, path, body=body)
    assert resp.status_code == 404, resp.text
    assert resp.json()["code"] == code
