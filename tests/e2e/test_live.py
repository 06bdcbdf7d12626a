"""The examples against a real Azure Batch account (``pytest -m live``).

Needs AZURE_BATCH_ENDPOINT (+ AZURE_BATCH_ACCOUNT/AZURE_BATCH_ACCESS_KEY, or an identity
DefaultAzureCredential can use) and AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT
[+ AZURE_STORAGE_KEY]). Skipped otherwise. Real VMs: minutes and money.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not os.environ.get("AZURE_BATCH_ENDPOINT"),
        reason="no Azure Batch account in the environment",
    ),
]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "batchflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.timeout(3600)
def test_quickstart_on_azure(examples: Path) -> None:
    res = _run("run", "quickstart.yaml", "--target", "azure", cwd=examples)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[0].startswith("Running on Azure Batch")
    for i in range(3):
        assert f"Task: task{i}\nNode: " in res.stdout


@pytest.mark.timeout(3600)
def test_ffmpeg_on_azure(examples: Path) -> None:
    res = _run("run", "ffmpeg.yaml", "--target", "azure", "--json", cwd=examples)
    assert res.returncode == 0, res.stderr
    for mp4 in (examples / "media").glob("*.mp4"):
        assert (examples / "out" / f"{mp4.stem}.mp3").stat().st_size > 0
