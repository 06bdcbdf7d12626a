"""Local nodes share one host: N nodes running a start task that takes a host-wide lock the
way apt-get does (fail at once when another holds it) must each succeed, as on N separate VMs
(seen with Microsoft's ffmpeg sample: one node of two ended starttaskfailed)."""

from __future__ import annotations

import os
from pathlib import Path

from azure.batch import BatchClient
from azure.batch import models as m

from tests.emulator.core_helpers import make_pool, wait_for


def test_start_tasks_taking_a_host_lock_all_succeed(
    batch_client: BatchClient, tmp_path: Path
) -> None:
    lock, log = tmp_path / "dpkg.lock", tmp_path / "ran.log"
    # flock -n: like apt-get's "Could not get lock ... held by process", exit 100 at once.
    command = (
        f"/bin/sh -c 'flock -n -E 100 {lock} -c \"sleep 0.5; echo $AZ_BATCH_NODE_ID >> {log}\"'"
    )
    start = m.BatchStartTask(command_line=command, wait_for_success=True)
    make_pool(batch_client, "apt", 3, start_task=start, wait_idle=False)
    local = min(3, os.cpu_count() or 1)
    wait_for(
        "every node settled",
        lambda: (
            len(nodes := list(batch_client.list_nodes("apt"))) == local
            and all(n.state in ("idle", "starttaskfailed") for n in nodes)
        ),
        timeout=30,
    )
    states = sorted(n.state for n in batch_client.list_nodes("apt"))
    assert states == ["idle"] * local, states
    assert len(set(log.read_text().split())) == local  # each node ran its own start task
