"""Seeing a run: status and logs while it runs, run records, logs after cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import batchflow, cli_env
from tests.e2e.test_runs import _marks, _sleepers


def _start_run(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml", *args],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(cond: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_status_and_logs_work_while_a_local_run_is_in_progress(tmp_path: Path) -> None:
    _sleepers(tmp_path, 4, seconds=4)
    run = _start_run(tmp_path)
    try:
        _wait_for(lambda: _marks(tmp_path, "start"))
        status = batchflow("status", "sleepers.yaml", "--json", cwd=tmp_path)
        assert status.code == 0, status.stderr
        report = status.json()
        assert report["job"]["id"] == "sleepers-job"
        assert report["tasks"]["running"] + report["tasks"]["active"] >= 1
        logs = batchflow("logs", "sleepers.yaml", "t-f00", cwd=tmp_path)
        assert logs.code in (0, 2), logs.stderr  # 2: t-f00 not started yet (4 tasks, 4 slots)
        assert "another batchflow command" not in logs.stderr
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    endpoint = tmp_path / ".batchflow" / "endpoint.json"
    assert not endpoint.exists()  # the run removes what it published


def test_endpoint_file_is_private_and_removed(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=3)
    run = _start_run(tmp_path)
    endpoint = tmp_path / ".batchflow" / "endpoint.json"
    try:
        _wait_for(endpoint.exists)
        assert endpoint.stat().st_mode & 0o777 == 0o600
        assert "http://127.0.0.1:" in endpoint.read_text()
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    assert not endpoint.exists()


def test_a_readable_endpoint_file_is_not_trusted(tmp_path: Path) -> None:
    """A key file others can read (or one someone else planted) is ignored: the reader
    reports the busy directory (exit 3) rather than talking to an unknown server."""
    _sleepers(tmp_path, 2, seconds=4)
    run = _start_run(tmp_path)
    endpoint = tmp_path / ".batchflow" / "endpoint.json"
    try:
        _wait_for(endpoint.exists)
        os.chmod(endpoint, 0o644)
        status = batchflow("status", "sleepers.yaml", cwd=tmp_path)
        assert status.code == 3 and "another batchflow command" in status.stderr
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
