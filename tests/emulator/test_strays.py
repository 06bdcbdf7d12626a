"""Task processes a killed emulator left with no pid in its state are still stopped at the
next start, and nothing else is."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from batchflow.emulator.node.executor import kill_strays


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    time.sleep(0.05)
    return proc.poll() is None


def test_a_task_of_these_nodes_is_killed_and_a_shell_looking_at_them_is_not(
    tmp_path: Path,
) -> None:
    nodes = tmp_path / "nodes"
    wd = nodes / "pool" / "node-1" / "workitems" / "job" / "job-1" / "t" / "wd"
    wd.mkdir(parents=True)
    env = {**os.environ, "AZ_BATCH_NODE_ROOT_DIR": str(nodes / "pool" / "node-1")}
    task = subprocess.Popen(["sleep", "60"], cwd=wd, env=env, start_new_session=True)
    looker = subprocess.Popen(["sleep", "60"], cwd=wd, start_new_session=True)  # a user's shell
    other = {**os.environ, "AZ_BATCH_NODE_ROOT_DIR": str(tmp_path / "elsewhere" / "node-1")}
    stranger = subprocess.Popen(["sleep", "60"], env=other, start_new_session=True)
    try:
        assert kill_strays(nodes) == 1
        task.wait(timeout=10)
        assert _alive(looker) and _alive(stranger)
    finally:
        for proc in (task, looker, stranger):
            proc.kill()
            proc.wait()
