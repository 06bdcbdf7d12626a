"""Hardening found by QA, through the real CLI: the in-process emulator's own key, SIGTERM,
read-only commands that run nothing, bounded Azure connections, clear usage errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchflow.azure.connect import batch_service
from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.errors import BackendError
from tests.e2e.conftest import cli_env
from tests.e2e.test_runs import _marks, _sleepers


def _start_run(root: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml"],
        cwd=root,
        env=cli_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", banner)
    assert url, banner
    return proc, url.group(0)


def _wait_started(root: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not _marks(root, "start") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _marks(root, "start"), "no task started"


def test_a_runs_emulator_refuses_the_public_dev_key(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=4)
    proc, url = _start_run(tmp_path)
    try:
        _wait_started(tmp_path, proc)
        intruder = batch_service(url, DEV_ACCOUNT, DEV_KEY, fast=True)
        with pytest.raises(BackendError) as err:
            intruder.add_tasks("sleepers-job", [{"id": "evil", "commandLine": "true"}])
        intruder.close()
        assert "check the account name and key" in str(err.value)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
