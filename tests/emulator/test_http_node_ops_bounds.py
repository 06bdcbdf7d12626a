"""Node operations a client can push too far: uploading a node's logs to a storage endpoint
that never answers, or refuses, gets a clear 400 within seconds (not a request held for
minutes by retries) and no credential of the URL repeated; users are bounded per node."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchflow.emulator.server import EmulatorServer
from batchflow.emulator.state.node_ops import MAX_USERS_PER_NODE
from tests.emulator.http_helpers import call
from tests.emulator.test_http_file_delete import POOL


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """An emulator and the id of its one idle node."""
    with EmulatorServer(data_dir=tmp_path / "emu", nodes_max=1) as emu:
        assert call(emu, "POST", "/pools", body=POOL).status_code == 201
        deadline = time.monotonic() + 30
        while True:
            nodes = call(emu, "GET", "/pools/p1/nodes").json()["value"]
            if nodes and nodes[0]["state"] == "idle":
                break
            assert time.monotonic() < deadline, "the node did not become idle"
            time.sleep(0.05)
        yield emu, nodes[0]["id"]


def _upload(emu: Any, node_id: str, url: str) -> Any:
    body = {"containerUrl": url, "startTime": "2020-01-01T00:00:00Z"}
    return call(emu, "POST", f"/pools/p1/nodes/{node_id}/uploadbatchservicelogs", body=body)


def test_a_storage_endpoint_that_never_answers_is_a_quick_400(node: tuple[Any, str]) -> None:
    emu, node_id = node
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        resp = _upload(emu, node_id, f"http://127.0.0.1:{port}/logs?sig=SECRETSIG")
        took = time.monotonic() - started
    assert resp.status_code == 400, resp.text
    assert took < 25, f"answered after {took:.0f}s"
    assert "SECRETSIG" not in resp.text


def test_credentials_in_the_url_are_not_repeated(node: tuple[Any, str]) -> None:
    emu, node_id = node
    with socket.socket() as closed:  # a port nothing listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        resp = _upload(emu, node_id, f"http://me:PASSWORD1@127.0.0.1:{port}/c?sig=SECRETSIG")
    assert resp.status_code == 400, resp.text
    assert "PASSWORD1" not in resp.text and "SECRETSIG" not in resp.text
    assert f"127.0.0.1:{port}/c" in resp.text  # still says where it tried


def test_a_node_holds_a_bounded_number_of_users(node: tuple[Any, str]) -> None:
    """Users are kept in memory (each up to a 32 KB SSH key): one client adding them in a
    loop must not grow the emulator without end."""
    emu, node_id = node
    key = "ssh-rsa " + "A" * 30_000
    for i in range(MAX_USERS_PER_NODE):
        body = {"name": f"u{i}", "sshPublicKey": key}
        assert call(emu, "POST", f"/pools/p1/nodes/{node_id}/users", body=body).status_code == 201
    over = call(emu, "POST", f"/pools/p1/nodes/{node_id}/users", body={"name": "one-more"})
    assert over.status_code == 409, over.text
    assert str(MAX_USERS_PER_NODE) in over.text
    users = f"/pools/p1/nodes/{node_id}/users"
    assert call(emu, "DELETE", f"{users}/u0").status_code == 200
    assert call(emu, "POST", users, body={"name": "x"}).status_code == 201
