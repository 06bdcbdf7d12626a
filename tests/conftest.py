"""Fixtures shared by the whole suite: real Azurite, and the real emulator on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchflow.emulator.http import recording
from tests.openapi import conformance
from tests.openapi.answers import Answers

REPO = Path(__file__).resolve().parent.parent
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's documented well-known development key (public, guards nothing).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _azurite_bin() -> str:
    candidates = [
        os.environ.get("AZURITE_BLOB_BIN", ""),
        str(REPO / "node_modules" / ".bin" / "azurite-blob"),
        shutil.which("azurite-blob") or "",
    ]
    for c in candidates:
        if c and Path(c).exists():
            return c
    raise RuntimeError(
        "Azurite is needed by the tests: run `npm install` in the repository (see .ci/run)"
    )


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Azurite exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("Azurite did not start listening in time")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Azurite blob service on loopback; yields its connection string."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [
            _azurite_bin(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            # In memory: nothing to clean up, and a test can't see another session's blobs.
            # (Azurite refuses --location together with --inMemoryPersistence.)
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc)
        yield (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session", autouse=True)
def _answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Answers]:
    """Every answer any emulator gives during the session (see conformance)."""
    answers = Answers(tmp_path_factory.mktemp("answers"))
    stop = recording.add(answers.seen.append)
    os.environ[recording.ENV] = str(answers.where)
    try:
        yield answers
    finally:
        stop()
        os.environ.pop(recording.ENV, None)


@pytest.fixture(autouse=True)
def _answers_conform(_answers: Answers) -> Iterator[None]:
    """After each test, every emulator answer given since the last check (this test's, and
    its module fixtures') must be what the Batch API declares (tests/openapi/conformance.py).
    A mismatch fails the test that caused it, in its teardown, naming each one."""
    yield
    found = [p for exchange in _answers.take() for p in conformance.problems(exchange)]
    if found:
        unique = list(dict.fromkeys(found))
        pytest.fail(
            f"{len(unique)} emulator answer(s) differ from the Batch API 2025-06-01:\n"
            + "\n".join(unique[:30]),
            pytrace=False,
        )


@pytest.fixture()
def emulator(tmp_path: Path) -> Iterator[object]:
    """A fresh emulator (``batchflow.emulator.server.EmulatorServer``) on a free loopback port,
    with its data under the test's tmp_path. ``.url``, ``.account``, ``.key``, ``.service``."""
    from batchflow.emulator.server import EmulatorServer

    server = EmulatorServer(data_dir=tmp_path / "emulator", nodes_max=4)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def batch_client(emulator: object) -> object:
    """An azure-batch 15.x ``BatchClient`` signed with SharedKey against the emulator."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    return BatchClient(
        endpoint=emulator.url,  # type: ignore[attr-defined]
        credential=AzureNamedKeyCredential(emulator.account, emulator.key),  # type: ignore[attr-defined]
    )


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "2m") -> Iterator[Path]:
    """``where`` as a tmpfs of ``size`` (a really full disk); skips where mounting is not
    allowed (it needs root)."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)
