"""One client cannot knock the emulator over: it authenticates a request before reading its
body, bounds each operation's body, closes idle, half-sent and stalled connections, and keeps
idle sockets from taking the file descriptors its tasks need. Real sockets, real servers."""

from __future__ import annotations

import email.utils
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.http import auth
from batchflow.emulator.http.limits import HttpLimits
from batchflow.emulator.server import EmulatorServer
from tests.conftest import REPO
from tests.emulator.core_helpers import add, completed, make_job, make_pool
from tests.emulator.http_helpers import API

SHORT = HttpLimits(idle_timeout=1.0, body_timeout=1.0)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("limits"), limits=SHORT) as server:
        yield server


def _head(
    emu: EmulatorServer, method: str, path: str, length: int, *, signed: bool = True
) -> bytes:
    """A request head announcing a ``length``-byte JSON body, signed with the emulator's key."""
    headers = {
        "ocp-date": email.utils.formatdate(usegmt=True),
        "content-type": "application/json; odata=minimalmetadata",
        "content-length": str(length),
    }
    key = auth.decode_key(emu.key if signed else DEV_KEY[::-1])
    headers["authorization"] = auth.authorization(method, path, API, headers, emu.account, key)
    lines = [f"{method} {path}?{API} HTTP/1.1", f"host: 127.0.0.1:{emu.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _connect(emu: EmulatorServer, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", emu.port), timeout=timeout)
    return sock


def _response(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """Status, headers and JSON body of the one response on ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(rest) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the middle of the response"
        rest += chunk
    return int(status_line.split()[1]), headers, json.loads(rest) if rest else {}


def _closed(sock: socket.socket, within: float) -> bool:
    """True once the server closed ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/jobs/j1/addtaskcollection"), ("POST", "/pools"), ("PUT", "/jobs/j1")],
)
def test_an_unsigned_upload_is_refused_without_reading_its_body(
    emu: EmulatorServer, method: str, path: str
) -> None:
    with _connect(emu, timeout=5) as sock:
        sock.sendall(_head(emu, method, path, 1_000_000_000, signed=False))
        status, headers, body = _response(sock)  # no byte of the body was sent
        assert (status, body["code"]) == (403, "AuthenticationFailed")
        assert headers.get("connection") == "close"
        assert _closed(sock, within=5)


@pytest.mark.parametrize(
    ("method", "path", "length"),
    [
        ("POST", "/jobs/j1/addtaskcollection", 1024 * 1024 + 1),
        ("POST", "/pools", 64 * 1024 * 1024),
        ("POST", "/_emulator/faults", 64 * 1024 * 1024),
    ],
)
def test_an_oversized_body_is_413_before_it_is_read(
    emu: EmulatorServer, method: str, path: str, length: int
) -> None:
    with _connect(emu, timeout=5) as sock:
        sock.sendall(_head(emu, method, path, length))
        status, headers, body = _response(sock)
        assert (status, body["code"]) == (413, "RequestBodyTooLarge")
        assert headers.get("connection") == "close"
        assert _closed(sock, within=5)


def test_a_stalled_body_is_answered_408_and_closed(emu: EmulatorServer) -> None:
    with _connect(emu) as sock:
        sock.sendall(_head(emu, "POST", "/jobs", 100) + b'{"id": ')
        begin = time.monotonic()
        status, headers, body = _response(sock)
        assert (status, body["code"]) == (408, "RequestTimeout")
        assert time.monotonic() - begin < 8
        assert headers.get("connection") == "close"
        assert _closed(sock, within=5)


def test_idle_and_half_sent_connections_are_closed(emu: EmulatorServer) -> None:
    silent = [_connect(emu) for _ in range(5)]
    half = [_connect(emu) for _ in range(5)]
    for sock in half:
        sock.sendall(b"GET /pools?" + API.encode() + b" HTTP/1.1\r\nhost: x\r\n")
    served = _connect(emu)
    served.sendall(b"GET /pools HTTP/1.1\r\nhost: x\r\n\r\n")
    assert _response(served)[0] == 403
    served.sendall(b"GET /pools HTTP/1.1\r\n")  # then the next request stalls
    try:
        assert all(_closed(sock, within=8) for sock in [*silent, *half, served])
    finally:
        for sock in [*silent, *half, served]:
            sock.close()


def test_a_request_under_way_is_not_cut_by_the_idle_timeout(emu: EmulatorServer) -> None:
    with _connect(emu) as sock:
        for _ in range(3):  # keep-alive: each request restarts the idle clock
            sock.sendall(b"GET /pools HTTP/1.1\r\nhost: x\r\n\r\n")
            assert _response(sock)[0] == 403
            time.sleep(0.5)


def _emulator_cli(tmp_path: Path, fds: int) -> tuple[subprocess.Popen[str], str]:
    """``batchflow emulator`` in a process that may open only ``fds`` files; and its URL."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (fds, fds))

    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "emulator", "--port", "0", "--data", "state"],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr").open("w"),  # a pipe nobody reads could block its logging
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
        preexec_fn=limit,
    )
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, f"the emulator ended early: {proc.communicate()}"
        if "listening on" in line:
            return proc, line.split()[-1]


def test_idle_sockets_cannot_starve_the_tasks_of_file_descriptors(tmp_path: Path) -> None:
    proc, url = _emulator_cli(tmp_path, fds=256)
    host, _, port = url.removeprefix("http://").partition(":")
    idle: list[socket.socket] = []
    try:
        for _ in range(400):
            idle.append(socket.create_connection((host, int(port)), timeout=10))
        client = BatchClient(url, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
        make_pool(client, "pool", nodes=2, slots=2)
        make_job(client, "job", "pool")
        for i in range(20):
            add(client, "job", f"t{i}", f"/bin/sh -c 'echo task {i}'")
        for i in range(20):
            info = completed(client, "job", f"t{i}", timeout=60).execution_info
            assert info is not None and info.exit_code == 0, (i, info)
    finally:
        for sock in idle:
            sock.close()
        proc.terminate()
        proc.communicate(timeout=30)
    assert "Too many open files" not in (tmp_path / "stderr").read_text()
