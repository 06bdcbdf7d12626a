"""A refused request body never repeats a secret: not a password or key refused for its
length or for text that is not text (the body's generic bounds, which know no field), not an
extension's ``protectedSettings`` of the wrong type (not a password in the API definition)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from batchflow.emulator.server import EmulatorServer
from tests.emulator.http_helpers import call
from tests.emulator.test_http_file_delete import POOL

SECRET = "S3CRETVALUE"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("emu"), nodes_max=1) as server:
        yield server


def _pool(**extra: object) -> dict[str, Any]:
    pool: dict[str, Any] = {**copy.deepcopy(POOL), "id": "px", "targetDedicatedNodes": 0}
    pool.update(extra)
    return pool


def _extension(settings: object) -> dict[str, Any]:
    pool = _pool()
    pool["virtualMachineConfiguration"]["extensions"] = [
        {"name": "e", "publisher": "p", "type": "t", "protectedSettings": settings}
    ]
    return pool


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (json.dumps(_extension(SECRET)), "protectedSettings"),
        (json.dumps(_extension([SECRET])), "protectedSettings"),
        (json.dumps(_pool(userAccounts=[{"name": "u", "password": SECRET * 3000}])), "password"),
        # An unpaired surrogate escape: refused as not text, wherever it is.
        (
            json.dumps(_pool(userAccounts=[{"name": "u", "password": "PASSWORD"}])).replace(
                "PASSWORD", SECRET + "\\ud800"
            ),
            "password",
        ),
    ],
)
def test_a_refused_secret_is_not_repeated(emu: Any, raw: str, where: str) -> None:
    resp = call(emu, "POST", "/pools", raw=raw.encode())
    assert resp.status_code == 400, resp.text
    assert where in resp.text  # still says where
    assert SECRET[:6] not in resp.text
