"""Reading a task's files never follows a link out of its directory, also while a task swaps a
file or a directory for a symlink during the reads (open beneath the directory, no link
followed, check the opened file rather than the path). Raw signed HTTP, a real task."""

from __future__ import annotations

import email.utils
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchflow.emulator.http import auth
from batchflow.emulator.server import EmulatorServer
from tests.emulator.http_helpers import API, call

SECRET = b"SECRET-OUTSIDE-THE-TASK-DIRECTORY"
POOL = {
    "id": "p1",
    "vmSize": "standard_d2s_v3",
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
    "targetDedicatedNodes": 1,
}


@pytest.fixture(scope="module")
def task_wd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """An emulator and the working directory of its completed task ``j1/t1``."""
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("links"), nodes_max=1) as emu:
        assert call(emu, "POST", "/pools", body=POOL).status_code == 201
        assert call(
            emu, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}}
        ).is_success
        call(emu, "POST", "/jobs/j1/tasks", body={"id": "t1", "commandLine": "/bin/pwd"})
        deadline = time.monotonic() + 30
        while call(emu, "GET", "/jobs/j1/tasks/t1").json()["state"] != "completed":
            assert time.monotonic() < deadline, "task did not complete"
            time.sleep(0.02)
        wd = call(emu, "GET", "/jobs/j1/tasks/t1/files/stdout.txt").text.strip()
        yield emu, Path(wd)


class _Reader:
    """Signed GETs over one kept-alive connection (thousands of reads in a few seconds)."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self.key = auth.decode_key(emu.key)
        self.client = httpx.Client(base_url=emu.url, timeout=30)

    def get(self, path: str, query: str = API) -> httpx.Response:
        headers = {"ocp-date": email.utils.formatdate(usegmt=True)}
        headers["authorization"] = auth.authorization(
            "GET", path, query, headers, self.emu.account, self.key
        )
        return self.client.get(f"{path}?{query}", headers=headers)


def _swapping(make_inside: Any, link: Path, target: Path, stop: threading.Event) -> None:
    """Replace ``link`` by a symlink to ``target`` and back, until ``stop``: a file by one
    rename each way; a directory (which rename cannot put over a link) by moving it aside."""
    tmp_link = link.with_name(link.name + ".lnk")
    aside = iter(range(10**9))
    while not stop.is_set():
        inside = make_inside()
        if link.is_symlink() and inside.is_dir():
            link.unlink()
        os.replace(inside, link)
        if tmp_link.is_symlink():
            tmp_link.unlink()
        os.symlink(target, tmp_link)
        if link.is_dir():
            os.rename(link, link.with_name(f"aside-{next(aside)}"))
        os.replace(tmp_link, link)


def _thread(make_inside: Any, link: Path, target: Path, stop: threading.Event) -> Any:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            _swapping(make_inside, link, target, stop)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    return threading.Thread(target=run), failures


def _race(
    emu: Any, paths: list[str], swap: threading.Thread, stop: threading.Event, reads: int
) -> list[bytes]:
    """The bodies of ``reads`` GETs made while ``swap`` runs (a read cut short by the file
    changing under it counts with what it had received)."""
    reader = _Reader(emu)
    bodies: list[bytes] = []
    swap.start()
    try:
        for i in range(reads):
            try:
                bodies.append(reader.get(paths[i % len(paths)]).content)
            except httpx.RemoteProtocolError as exc:
                bodies.append(str(exc).encode())
                reader.client.close()
                reader.client = httpx.Client(base_url=emu.url, timeout=30)
    finally:
        stop.set()
        swap.join()
        reader.client.close()
    return bodies


def test_a_file_swapped_for_a_link_is_never_read_through_it(
    task_wd: tuple[Any, Path], tmp_path: Path
) -> None:
    emu, wd = task_wd
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    counter = iter(range(10**9))

    def make_inside() -> Path:
        path = wd / f"in-{next(counter)}"
        path.write_bytes(b"inside")
        return path

    stop = threading.Event()
    swap, failures = _thread(make_inside, wd / "f", secret, stop)
    bodies = _race(emu, ["/jobs/j1/tasks/t1/files/wd%2Ff"], swap, stop, 1500)
    assert not failures
    escaped = sum(SECRET in body for body in bodies)
    served = sum(body == b"inside" for body in bodies)
    assert escaped == 0, f"{escaped} of {len(bodies)} reads returned the file outside"
    assert served > 0  # the race really ran: some reads met the regular file


def test_a_directory_swapped_for_a_link_is_never_read_or_listed_through_it(
    task_wd: tuple[Any, Path], tmp_path: Path
) -> None:
    emu, wd = task_wd
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(SECRET)
    (outside / "outside-marker").write_bytes(SECRET)
    counter = iter(range(10**9))

    def make_inside() -> Path:
        path = wd / f"dir-{next(counter)}"
        path.mkdir()
        (path / "f").write_bytes(b"inside")
        return path

    stop = threading.Event()
    swap, failures = _thread(make_inside, wd / "d", outside, stop)
    (wd / "d").mkdir(exist_ok=True)
    paths = ["/jobs/j1/tasks/t1/files/wd%2Fd%2Ff", "/jobs/j1/tasks/t1/files"]
    bodies = _race(emu, paths, swap, stop, 600)
    assert not failures
    assert any(b"inside" in b for b in bodies)  # the race really ran
    leaks = [b for b in bodies if SECRET in b or b"outside-marker" in b]
    assert not leaks, f"{len(leaks)} of {len(bodies)} answers showed the directory outside"


def test_a_link_inside_the_directory_is_not_followed_either(
    task_wd: tuple[Any, Path], tmp_path: Path
) -> None:
    emu, wd = task_wd
    (tmp_path / "s").write_bytes(SECRET)
    os.symlink(tmp_path / "s", wd / "plain-link")
    resp = call(emu, "GET", "/jobs/j1/tasks/t1/files/wd%2Fplain-link")
    assert resp.status_code == 404 and SECRET not in resp.content
    head = call(emu, "HEAD", "/jobs/j1/tasks/t1/files/wd%2Fplain-link")
    assert head.status_code == 404
    query = API + "&recursive=true&$filter=startswith(name, 'wd/plain')"
    listing = call(emu, "GET", "/jobs/j1/tasks/t1/files", query)
    entry = next(f for f in listing.json()["value"] if f["name"] == "wd/plain-link")
    assert int(entry["properties"]["contentLength"]) != len(SECRET)  # the link's own size


def test_a_fifo_in_the_directory_does_not_hang_a_read(task_wd: tuple[Any, Path]) -> None:
    emu, wd = task_wd
    os.mkfifo(wd / "pipe")
    resp = call(emu, "GET", "/jobs/j1/tasks/t1/files/wd%2Fpipe")
    assert resp.status_code in (400, 404), resp.text
