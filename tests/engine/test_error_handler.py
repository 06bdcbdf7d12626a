"""The error boundary: crash logs private to the user, never through a planted symlink."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import pytest

from batchflow.error_handler import report
from tests.conftest import small_tmpfs


def _crash(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        raise RuntimeError("boom with AccountKey=c2VjcmV0a2V5")
    except RuntimeError as exc:
        code = report(exc)
    return code, capsys.readouterr().err


def test_crash_log_is_private_to_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BATCHFLOW_LOG_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code, err = _crash(capsys)
    assert code == 3 and "c2VjcmV0a2V5" not in err
    found = re.search(r"full trace in (\S+)\)", err)
    assert found, err
    log = Path(found.group(1))
    assert log.parent == tmp_path / "state" / "batchflow"
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert "RuntimeError" in text and "c2VjcmV0a2V5" not in text
    assert _crash(capsys)[1] != err  # each crash gets a new, unguessable file


def test_crash_log_never_follows_a_planted_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BATCHFLOW_LOG_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "state").mkdir()
    os.symlink(elsewhere, tmp_path / "state" / "batchflow")
    code, err = _crash(capsys)
    assert code == 3 and "full trace" not in err and "RuntimeError" in err
    assert not list(elsewhere.iterdir())


def test_a_full_disk_is_one_line_without_a_crash_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCHFLOW_LOG_DIR", str(tmp_path / "logs"))
    with small_tmpfs(tmp_path / "disk", "64k") as disk:
        try:
            (disk / "big").write_bytes(b"0" * 1_000_000)
        except OSError as exc:
            code = report(exc)
    err = capsys.readouterr().err
    assert code == 3 and err.startswith("error: disk full") and err.count("\n") == 1, err
    assert "unexpected" not in err and not (tmp_path / "logs").exists()
    named = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "out" / "r.txt"))
    assert report(named) == 3
    assert f"disk full writing {tmp_path / 'out' / 'r.txt'}" in capsys.readouterr().err
