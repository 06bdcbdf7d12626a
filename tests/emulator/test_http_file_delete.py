"""Deleting a task's files (File_DeleteFromTask, which the JavaScript SDK and ``az batch task
file delete`` call) removes links as links and never reaches out of the task directory: not
through a linked directory on the path, not inside a tree deleted recursively."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchflow.emulator.server import EmulatorServer
from tests.emulator.http_helpers import call

POOL = {
    "id": "p1",
    "vmSize": "standard_d2s_v3",
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
    "targetDedicatedNodes": 1,
}


@pytest.fixture()
def task_wd(tmp_path: Path) -> Iterator[tuple[Any, Path, Path]]:
    """An emulator, the working directory of its completed task ``j1/t1``, and a directory
    outside it holding ``keep.txt``."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    with EmulatorServer(data_dir=tmp_path / "emu", nodes_max=1) as emu:
        assert call(emu, "POST", "/pools", body=POOL).status_code == 201
        assert call(emu, "POST", "/jobs", body={"id": "j1", "poolInfo": {"poolId": "p1"}})
        call(emu, "POST", "/jobs/j1/tasks", body={"id": "t1", "commandLine": "/bin/pwd"})
        deadline = time.monotonic() + 30
        while call(emu, "GET", "/jobs/j1/tasks/t1").json()["state"] != "completed":
            assert time.monotonic() < deadline, "task did not complete"
            time.sleep(0.05)
        wd = Path(call(emu, "GET", "/jobs/j1/tasks/t1/files/stdout.txt").text.strip())
        yield emu, wd, outside
    # A deep tree left by a failing test would break pytest's own cleanup of its temp
    # directories (shutil.rmtree recurses): remove it without Python.
    subprocess.run(["rm", "-rf", str(tmp_path)], check=False)


def _delete(emu: Any, path: str, recursive: bool = False) -> Any:
    query = "api-version=2025-06-01" + ("&recursive=true" if recursive else "")
    return call(emu, "DELETE", f"/jobs/j1/tasks/t1/files/{path}", query)


def test_links_are_deleted_as_links(task_wd: tuple[Any, Path, Path]) -> None:
    emu, wd, outside = task_wd
    (wd / "dirlink").symlink_to(outside)
    (wd / "filelink").symlink_to(outside / "keep.txt")
    assert _delete(emu, "wd%2Fdirlink%2Fkeep.txt").status_code == 404  # no walking through
    assert _delete(emu, "wd%2Ffilelink").status_code == 200
    assert _delete(emu, "wd%2Fdirlink").status_code == 200
    assert not (wd / "filelink").is_symlink() and not (wd / "dirlink").is_symlink()
    assert (outside / "keep.txt").read_text() == "keep"


def test_a_recursive_delete_stays_inside(task_wd: tuple[Any, Path, Path]) -> None:
    emu, wd, outside = task_wd
    (wd / "tree" / "deep").mkdir(parents=True)
    (wd / "tree" / "deep" / "x.txt").write_text("x")
    (wd / "tree" / "deep" / "escape").symlink_to(outside)
    refused = _delete(emu, "wd%2Ftree")
    # The service's code for a state conflict, with its status (409) as its error table gives.
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "OperationInvalidForCurrentState"
    assert _delete(emu, "wd%2Ftree", recursive=True).status_code == 200
    assert not (wd / "tree").exists()
    assert (outside / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("..%2F..%2Fx", 400, "InvalidUri"),
        ("wd%2Fnothing", 404, "FileNotFound"),
    ],
)
def test_bad_paths_are_refused(
    task_wd: tuple[Any, Path, Path], path: str, status: int, code: str
) -> None:
    resp = _delete(task_wd[0], path)
    assert (resp.status_code, resp.json()["code"]) == (status, code)


def test_a_missing_task_or_job_is_named(task_wd: tuple[Any, Path, Path]) -> None:
    emu = task_wd[0]
    assert call(emu, "DELETE", "/jobs/j1/tasks/nope/files/x").json()["code"] == "TaskNotFound"
    assert call(emu, "DELETE", "/jobs/nope/tasks/t1/files/x").json()["code"] == "JobNotFound"


def _deep_tree(top: Path, depth: int) -> None:
    """``top/d/d/.../d/x.txt``, ``depth`` directories deep: deeper than Python's recursion
    limit, made by fd since its path is longer than PATH_MAX allows one call."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("x.txt", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    finally:
        os.close(fd)


DEEP = 1200  # above sys.getrecursionlimit() (1000): a recursive removal fails on it


def test_a_tree_deeper_than_the_recursion_limit_is_deleted(
    task_wd: tuple[Any, Path, Path],
) -> None:
    emu, wd, _outside = task_wd
    _deep_tree(wd, DEEP)
    resp = _delete(emu, "wd%2Fd", recursive=True)
    assert resp.status_code == 200, resp.text
    assert not (wd / "d").exists()


def test_deleting_a_job_removes_a_deep_tree_of_its_task(task_wd: tuple[Any, Path, Path]) -> None:
    emu, wd, _outside = task_wd
    _deep_tree(wd, DEEP)
    job_dir = wd.parent.parent.parent  # workitems/j1 (wd is workitems/j1/job-1/t1/wd)
    assert job_dir.name == "j1"
    assert call(emu, "DELETE", "/jobs/j1").status_code == 202
    deadline = time.monotonic() + 30
    while job_dir.exists():
        assert time.monotonic() < deadline, "the job's directory was left behind"
        time.sleep(0.05)
