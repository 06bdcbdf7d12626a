"""The emulator's one way to remove a tree a task made (task files, a deleted job's, a
reimaged node's, expired ones): any depth, links removed as links, nothing outside touched."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchflow.emulator import trees
from tests.emulator.test_http_file_delete import DEEP, _deep_tree


@pytest.fixture(autouse=True)
def _rm_rf(tmp_path: Path) -> Iterator[None]:
    yield
    # A deep tree left by a failure would break pytest's own cleanup (shutil.rmtree recurses).
    subprocess.run(["rm", "-rf", str(tmp_path)], check=False)


def test_a_deep_tree_with_links_out_is_removed_and_the_outside_kept(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    top = tmp_path / "top"
    (top / "a").mkdir(parents=True)
    (top / "a" / "out").symlink_to(outside)
    (top / "a" / "file").symlink_to(outside / "keep.txt")
    _deep_tree(top, DEEP)
    trees.discard(top)
    assert not top.exists()
    assert (outside / "keep.txt").read_text() == "keep"


def test_a_link_given_is_removed_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "keep.txt").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    trees.discard(tmp_path / "link")
    trees.discard(tmp_path / "absent")  # nothing there: no error
    assert not (tmp_path / "link").is_symlink()
    assert (tmp_path / "real" / "keep.txt").read_text() == "keep"


def test_trees_a_stop_cut_short_are_removed_at_the_next_start(tmp_path: Path) -> None:
    """A reimage moves the node's disk to data_dir/trash and removes it in a daemon thread:
    a stop meanwhile left it there, and every restart of a kept data_dir added more."""
    from batchflow.emulator.server import EmulatorServer

    left = tmp_path / "emu" / "trash" / "0123abcd"
    (left / "workitems").mkdir(parents=True)
    (left / "workitems" / "big.bin").write_bytes(b"x" * 1024)
    with EmulatorServer(data_dir=tmp_path / "emu", nodes_max=1):
        deadline = time.monotonic() + 20
        while left.exists():  # removed in the background
            assert time.monotonic() < deadline, "the trash was left"
            time.sleep(0.05)
