"""The emulator speaks to the msrest-era SDK (azure-batch 14.2) too, in its own virtualenv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("BATCHFLOW_SDK14_VENV", HERE.parent.parent / ".ci" / ".sdk14-venv"))


def _sdk14_python() -> Path:
    """The virtualenv with azure-batch 14.2, made once and reused."""
    python = VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run([python, "-c", "import azure.batch, msrest"], capture_output=True)
        if probe.returncode == 0:
            return python
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "azure-batch==14.2.0"],
        check=True, timeout=600,
    )
    return python


@pytest.fixture(scope="module")
def sdk14_python() -> Path:
    return _sdk14_python()


def test_sdk14_scenario(sdk14_python: Path, emulator: object, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sdk14_python, HERE / "sdk14_scenario.py", emulator.url,  # type: ignore[attr-defined]
         emulator.account, emulator.key, str(tmp_path)],  # type: ignore[attr-defined]
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["pool_dup"] == "PoolExists"
    assert seen["job_dup"] == "JobExists"
    assert seen["pool_exists"] is True
    assert seen["pool_exists_missing"] is False
    assert seen["start_task_exit"] == 3
    assert seen["counts"] == [0, 0, 250, 250, 0]
    assert seen["paged_ids"] == 250
    assert seen["selected"] == [["id", "state"]]
    assert seen["task_missing"] == "TaskNotFound"
    assert seen["stdout"] == "hello t007\n"
    assert {"stdout.txt", "stderr.txt", "wd"} <= set(seen["files"])
    assert seen["retry"] == ["success", 2]
    # The process group is killed at maxWallClockTime; Batch reports the attempt as ended by
    # the service (TaskEnded), not as the program's own failure.
    assert seen["slow"] == ["failure", "servererror", "TaskEnded"]
    assert seen["slow_seconds"] < 10
    assert seen["fails_exit"] == 7
    assert seen["after_fail_state"] == "active"
    assert seen["failed_ids"] == ["fails", "slow"]
    assert seen["terminated_task"] == "completed"
    assert seen["wrong_key"] == "AuthenticationFailed"


if __name__ == "__main__":  # make the virtualenv ahead of time (used by .ci/run)
    print(_sdk14_python())
    sys.exit(0)
