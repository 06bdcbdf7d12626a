"""Pools and nodes through the real SDK: start tasks (success, failure, retries), resize up and
down with requeue, node loss."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import ResourceNotFoundError

from batchflow.emulator.server import EmulatorServer
from tests.emulator.core_helpers import (
    POLL,
    add,
    completed,
    failure,
    info,
    make_job,
    make_pool,
    node_of,
    start_info,
    state_is,
    stdout,
    wait_for,
)


def _nodes(client: BatchClient, pool_id: str, state: str, count: int) -> list[m.BatchNode]:
    return wait_for(
        f"{count} {state} nodes",
        lambda: (lambda ns: ns if len(ns) == count and all(n.state == state for n in ns) else None)(
            list(client.list_nodes(pool_id))
        ),
    )


def _two_running(client: BatchClient, pool_id: str, command: str) -> None:
    """A pool of two one-slot nodes, each running one task (``a``, ``b``) of job ``j``."""
    make_pool(client, pool_id, nodes=2, slots=1)
    make_job(client, "j", pool_id)
    for task_id in "ab":
        add(client, "j", task_id, command)
    for task_id in "ab":
        state_is(client, "j", task_id, "running")


def test_start_task_success_shows_on_the_node(batch_client: BatchClient, tmp_path: Path) -> None:
    (tmp_path / "setup.txt").write_text("from a resource file")
    start = m.BatchStartTask(
        command_line="/bin/sh -c 'cat setup.txt > $AZ_BATCH_NODE_SHARED_DIR/flag; echo $MODE'",
        resource_files=[
            m.ResourceFile(http_url=(tmp_path / "setup.txt").as_uri(), file_path="setup.txt")
        ],
        environment_settings=[m.EnvironmentSetting(name="MODE", value="setup")],
        wait_for_success=True,
    )
    make_pool(batch_client, "ok", nodes=1, start_task=start, wait_idle=False)
    pool = batch_client.get_pool("ok")
    assert pool.allocation_state == "steady" and pool.current_dedicated_nodes == 1
    node = _nodes(batch_client, "ok", "idle", 1)[0]
    started = start_info(node)
    assert (started.state, started.exit_code, started.result) == ("completed", 0, "success")
    assert node.is_dedicated is True
    make_job(batch_client, "j", "ok")
    add(batch_client, "j", "t", "/bin/sh -c 'cat $AZ_BATCH_NODE_SHARED_DIR/flag'")
    assert info(completed(batch_client, "j", "t")).result == "success"
    assert stdout(batch_client, "j", "t") == "from a resource file"
    assert (
        b"".join(batch_client.download_node_file("ok", str(node.id), "startup/stdout.txt"))
        == b"setup\n"
    )


def test_start_task_failure_with_wait_marks_the_node(batch_client: BatchClient) -> None:
    start = m.BatchStartTask(
        command_line="/bin/sh -c 'echo no >&2; exit 3'",
        wait_for_success=True,
        max_task_retry_count=1,
    )
    make_pool(batch_client, "bad", nodes=1, start_task=start, wait_idle=False)
    node = _nodes(batch_client, "bad", "starttaskfailed", 1)[0]
    started = start_info(node)
    assert (started.exit_code, started.result, started.retry_count) == (3, "failure", 1)
    assert started.failure_info is not None
    assert started.failure_info.code == "FailureExitCode"
    stderr = b"".join(batch_client.download_node_file("bad", node.id, "startup/stderr.txt"))
    assert stderr == b"no\n"
    make_job(batch_client, "j", "bad")
    add(batch_client, "j", "t", "/bin/true")
    assert batch_client.get_task("j", "t").state == "active"


def test_pool_is_capped_to_local_capacity_and_spot_is_reported(batch_client: BatchClient) -> None:
    make_pool(batch_client, "big", nodes=1, wait_idle=False, target_low_priority_nodes=50)
    pool = batch_client.get_pool("big")
    assert pool.target_low_priority_nodes == 50
    assert pool.current_dedicated_nodes == 1
    assert 1 <= pool.current_low_priority_nodes < 50
    nodes = _nodes(batch_client, "big", "idle", 1 + pool.current_low_priority_nodes)
    assert sorted(bool(n.is_dedicated) for n in nodes)[-1] is True
    assert any(n.id.endswith("_p") for n in nodes)


def test_resize_down_requeues_running_tasks(batch_client: BatchClient) -> None:
    _two_running(batch_client, "rs", "/bin/sleep 30")
    batch_client.begin_resize_pool(
        "rs", m.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=POLL
    ).result()
    assert batch_client.get_pool("rs").current_dedicated_nodes == 1
    requeued = wait_for(
        "a requeued task",
        lambda: [t for t in batch_client.list_tasks("j") if info(t).requeue_count == 1],
    )
    assert len(requeued) == 1
    _nodes(batch_client, "rs", "running", 1)


def test_lose_node_requeues_and_replaces(
    emulator: EmulatorServer,
    batch_client: BatchClient,
    tmp_path: Path,
) -> None:
    make_pool(batch_client, "lose", nodes=1)
    make_job(batch_client, "j", "lose")
    seen = tmp_path / "seen"
    add(batch_client, "j", "t", f"/bin/sh -c 'test -f {seen} && exit 0; touch {seen}; sleep 30'")
    first = node_of(state_is(batch_client, "j", "t", "running")).node_id
    wait_for("the first run to be under way", seen.exists)
    lost = emulator.control.lose_node("lose")
    assert lost == first
    task = completed(batch_client, "j", "t")
    assert info(task).requeue_count == 1
    assert info(task).last_requeue_time is not None
    assert node_of(task).node_id != first
    assert info(task).result == "success"


def test_resize_down_with_terminate_and_taskcompletion(batch_client: BatchClient) -> None:
    _two_running(batch_client, "opt", "/bin/sleep 0.5")
    batch_client.begin_resize_pool(
        "opt",
        m.BatchPoolResizeOptions(
            target_dedicated_nodes=1, node_deallocation_option="taskcompletion"
        ),
        polling_interval=POLL,
    ).result()
    assert any(n.state == "leavingpool" for n in batch_client.list_nodes("opt"))
    for task_id in "ab":
        done = completed(batch_client, "j", task_id)
        assert info(done).result == "success" and info(done).requeue_count == 0
    _nodes(batch_client, "opt", "idle", 1)
    add(batch_client, "j", "c", "/bin/sleep 30")
    state_is(batch_client, "j", "c", "running")
    batch_client.begin_resize_pool(
        "opt",
        m.BatchPoolResizeOptions(target_dedicated_nodes=0, node_deallocation_option="terminate"),
        polling_interval=POLL,
    ).result()
    assert failure(completed(batch_client, "j", "c")).code == "TaskEnded"
    assert list(batch_client.list_nodes("opt")) == []


def test_delete_pool_requeues_its_running_tasks(batch_client: BatchClient) -> None:
    make_pool(batch_client, "del", nodes=1)
    make_job(batch_client, "j", "del")
    add(batch_client, "j", "t", "/bin/sleep 30")
    state_is(batch_client, "j", "t", "running")
    batch_client.begin_delete_pool("del", polling_interval=POLL).result()
    with pytest.raises(ResourceNotFoundError):
        batch_client.get_pool("del")
    task = batch_client.get_task("j", "t")
    assert (task.state, info(task).requeue_count) == ("active", 1)


def test_start_task_without_wait_lets_tasks_run_at_once(
    batch_client: BatchClient,
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    start = m.BatchStartTask(
        command_line=f"/bin/sh -c 'while [ ! -f {gate} ]; do sleep 0.05; done'",
        wait_for_success=False,
    )
    make_pool(batch_client, "nowait", nodes=1, start_task=start)
    make_job(batch_client, "j", "nowait")
    add(batch_client, "j", "t", "/bin/true")
    assert info(completed(batch_client, "j", "t")).result == "success"
    node = next(iter(batch_client.list_nodes("nowait")))
    assert start_info(node).state == "running"
    gate.touch()
    wait_for(
        "the start task to end",
        lambda: start_info(next(iter(batch_client.list_nodes("nowait")))).state == "completed",
    )
