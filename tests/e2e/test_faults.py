"""Faults of the environment end a run cleanly, through the real CLI: a full disk under
``.batchflow/`` (a real 2 MB tmpfs), storage that refuses connections or never answers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY, free_port, small_tmpfs
from tests.e2e.conftest import batchflow, write_spec

FILL_TASKS = 20


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/.batchflow`` on a 2 MB tmpfs (the test needs mount rights: root)."""
    with small_tmpfs(tmp_path / ".batchflow") as state:
        yield state


def _fill_spec(root: Path) -> None:
    (root / "data").mkdir()
    for i in range(FILL_TASKS):
        (root / "data" / f"f{i:02d}.txt").write_text(f"{i}\n")
    write_spec(
        root,
        "fill",
        """
version: 1
name: fill
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  nodes: {dedicated: 2}
  slots_per_node: 1
inputs: [data/*.txt]
tasks:
  for_each: input
  id: "t-{input.stem}"
  command: >-
    /bin/sh -c "head -c 300000 /dev/zero > r-{input.stem}.out;
    cat {input.name} >> r-{input.stem}.out"
  outputs: ["r-{input.stem}.out"]
download: out/
cleanup: {job: keep, pool: keep, inputs: keep}
""",
    )


def test_full_disk_ends_the_run_with_one_line_and_a_rerun_completes(
    tmp_path: Path, small_disk: Path
) -> None:
    _fill_spec(tmp_path)
    t0 = time.monotonic()
    res = batchflow("run", "fill.yaml", cwd=tmp_path, timeout=90)
    elapsed = time.monotonic() - t0
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    assert res.code in (1, 3), res.stderr
    assert "disk full" in res.stderr and str(small_disk) in res.stderr, res.stderr
    assert "unexpected" not in res.stderr, res.stderr
    assert elapsed < 60
    # Free space (a bigger tmpfs, same content): the rerun finishes everything.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    res = batchflow("run", "fill.yaml", cwd=tmp_path, timeout=120)
    assert res.code == 0, res.stderr
    outs = sorted((tmp_path / "out").rglob("r-*.out"))
    assert len(outs) == FILL_TASKS
    assert all(p.stat().st_size > 300_000 for p in outs)


def _azurite_conn(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


@contextlib.contextmanager
def _black_hole() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_storage_refusing_connections_fails_in_seconds_naming_it(tmp_path: Path) -> None:
    _fill_spec(tmp_path)
    port = free_port()
    t0 = time.monotonic()
    res = batchflow(
        "run",
        "fill.yaml",
        "--storage",
        "azurite",
        cwd=tmp_path,
        timeout=60,
        AZURE_STORAGE_CONNECTION_STRING=_azurite_conn(port),
    )
    assert time.monotonic() - t0 < 30
    assert res.code == 3 and "unreachable" in res.stderr, res.stderr
    assert f"127.0.0.1:{port}" in res.stderr.splitlines()[-1], res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert AZURITE_KEY not in res.stderr


def test_storage_that_never_answers_fails_after_its_read_timeout(tmp_path: Path) -> None:
    _fill_spec(tmp_path)
    with _black_hole() as port:
        t0 = time.monotonic()
        res = batchflow(
            "run",
            "fill.yaml",
            "--storage",
            "azurite",
            cwd=tmp_path,
            timeout=60,
            AZURE_STORAGE_CONNECTION_STRING=_azurite_conn(port),
            BATCHFLOW_READ_TIMEOUT="2",
        )
    assert time.monotonic() - t0 < 30
    assert res.code == 3, res.stderr
    last = res.stderr.splitlines()[-1]
    assert "no answer" in last and "read timeout" in last and f"127.0.0.1:{port}" in last, last
    # While it waited, it said for what.
    assert f"waiting for storage at http://127.0.0.1:{port}" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
