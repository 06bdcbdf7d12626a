"""End-to-end helpers: a private copy of examples/ per test, and the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batchflow.emulator.http import recording

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: no Azure account, the repo importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_BATCH_", "AZURE_STORAGE_", "BATCHFLOW_"))
        or k == recording.ENV  # the CLI's emulator answers are checked too (tests/conftest.py)
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "120"
    env.update(extra)
    return env


def batchflow(*args: str, cwd: Path, timeout: float = 120, **env: str) -> Result:
    """``python -m batchflow ARGS`` in ``cwd``; stdin is not a terminal."""
    proc = subprocess.run(
        [sys.executable, "-m", "batchflow", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture()
def examples(tmp_path: Path) -> Path:
    """A copy of examples/ where .batchflow/ and out/ can land."""
    dest = tmp_path / "examples"
    shutil.copytree(REPO / "examples", dest, ignore=shutil.ignore_patterns(".batchflow", "out"))
    return dest


def write_spec(directory: Path, name: str, body: str) -> Path:
    """A spec file ``<name>.yaml`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def wait_for_orphans(root: Path, timeout: float = 30.0) -> None:
    """Wait until no process works in a directory under ``root``: after ``kill -9`` of a run,
    its task processes are orphans that still start (writing their marks late under load) or
    finish; a test that counts runs must count theirs before the next run, not after."""
    root = root.resolve()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cwd = (entry / "cwd").resolve(strict=True)
            except OSError:
                continue  # gone, or not ours to read
            if cwd.is_relative_to(root):
                busy = True
                break
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"task processes still work under {root} after {timeout} s")
