"""Tasks are started by a spawner process with an empty environment, detached from the
emulator's process; if the spawner is lost, the tasks it ran are reported (not waited on for
ever) and the next task starts a new spawner. Real tasks through the azure-batch SDK."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from azure.batch import BatchClient

from tests.emulator.core_helpers import add, completed, info, make_job, make_pool, wait_for


@pytest.fixture()
def job(batch_client: BatchClient) -> str:
    make_pool(batch_client, "pool", nodes=1, slots=2)
    make_job(batch_client, "job", "pool")
    return "job"


def test_a_tasks_parent_is_the_spawner_with_an_empty_environment(
    batch_client: BatchClient, job: str, tmp_path: Path
) -> None:
    out = tmp_path / "parent"
    add(
        batch_client,
        job,
        "t",
        f"/bin/sh -c 'wc -c < /proc/$PPID/environ > {out}; echo $PPID >> {out}'",
    )
    assert info(completed(batch_client, job, "t")).exit_code == 0
    size, ppid = out.read_text().split()
    assert size == "0"
    assert int(ppid) != os.getpid()  # not the process hosting the emulator


def test_a_lost_spawner_fails_its_tasks_and_is_started_again(
    batch_client: BatchClient, job: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ppid"
    add(batch_client, job, "long", f"/bin/sh -c 'echo $PPID > {marker}; exec sleep 30'")
    ppid = wait_for("the task to start", lambda: marker.exists() and marker.read_text().strip())
    os.kill(int(ppid), signal.SIGKILL)
    lost = completed(batch_client, job, "long")
    assert info(lost).result == "failure"
    add(batch_client, job, "after", "/bin/true")
    assert info(completed(batch_client, job, "after")).exit_code == 0
