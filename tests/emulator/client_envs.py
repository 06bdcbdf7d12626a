"""Virtualenvs for the clients that cannot share the suite's own (azure-batch 6.0 and the Azure
CLI pin other azure-* releases than the project's azure-batch 15): each made once under
``.ci/.client-envs/`` (or ``$BATCHFLOW_CLIENT_ENVS``) and reused. A test asking for one is
skipped only when the package index cannot be reached; with CI set it fails instead, since
``.ci/run`` makes them all first (``python -m tests.emulator.client_envs``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(
    os.environ.get(
        "BATCHFLOW_CLIENT_ENVS", Path(__file__).resolve().parents[2] / ".ci" / ".client-envs"
    )
)
# What pip prints when no index answered (as opposed to a package that fails to build).
_OFFLINE = ("from versions: none", "NewConnectionError", "Could not fetch URL", "Network is")


@dataclass(frozen=True)
class ClientEnv:
    """One virtualenv: its folder name, what pip installs, and a command proving it works."""

    name: str
    requirement: str
    probe: tuple[str, ...]

    @property
    def bin(self) -> Path:
        return ROOT / self.name / "bin"


SDK6 = ClientEnv("azure-batch-6", "azure-batch==6.0.0", ("python", "-c", "import azure.batch"))
# Pinned: test_az_cli.py asserts what this release sends, mistakes included.
AZ_CLI = ClientEnv("azure-cli", "azure-cli==2.91.0", ("az", "version"))
ALL = (SDK6, AZ_CLI)


class IndexUnreachable(RuntimeError):
    """pip could not reach the package index."""


def ensure(env: ClientEnv) -> Path:
    """The virtualenv's bin folder, made on first use; IndexUnreachable when pip is offline."""
    if _works(env):
        return env.bin
    venv.EnvBuilder(with_pip=True, clear=True).create(ROOT / env.name)
    proc = subprocess.run(
        [env.bin / "python", "-m", "pip", "install", "--quiet", env.requirement],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        if any(sign in proc.stderr for sign in _OFFLINE):
            raise IndexUnreachable(f"pip could not reach the package index for {env.requirement}")
        raise RuntimeError(f"pip install {env.requirement} failed: {proc.stderr[-2000:]}")
    if not _works(env):
        raise RuntimeError(f"{env.requirement} installed but {' '.join(env.probe)} fails")
    return env.bin


def ensure_or_skip(env: ClientEnv) -> Path:
    """``ensure`` for a test: skipped when offline, except in CI (where .ci/run made it)."""
    import pytest

    try:
        return ensure(env)
    except IndexUnreachable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


def _works(env: ClientEnv) -> bool:
    exe = env.bin / env.probe[0]
    if not exe.exists():
        return False
    probe = subprocess.run([exe, *env.probe[1:]], capture_output=True, timeout=300)
    return probe.returncode == 0


if __name__ == "__main__":  # .ci/run: make every client's virtualenv ahead of the tests
    for wanted in sys.argv[1:] or [env.name for env in ALL]:
        print(ensure(next(env for env in ALL if env.name == wanted)))
