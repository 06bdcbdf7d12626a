"""Helpers for the service-core tests: they drive the real azure-batch 15.x SDK against the
emulator and wait on real state changes (short polls on the SDK, never on internals)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

T = TypeVar("T")
IMAGE = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(
        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
    ),
    node_agent_sku_id="batch.node.ubuntu 22.04",
)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def make_pool(
    client: BatchClient,
    pool_id: str,
    nodes: int = 1,
    slots: int = 1,
    start_task: m.BatchStartTask | None = None,
    wait_idle: bool = True,
    **options: Any,
) -> None:
    """Create a pool (``options``: more BatchPoolCreateOptions fields); by default wait until
    its ``nodes`` nodes are idle."""
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            target_dedicated_nodes=nodes,
            task_slots_per_node=slots,
            start_task=start_task,
            **options,
        )
    )
    if wait_idle:
        wait_for(
            "idle nodes",
            lambda: (lambda ns: len(ns) == nodes and all(n.state == "idle" for n in ns))(
                list(client.list_nodes(pool_id))
            ),
        )


def make_job(client: BatchClient, job_id: str, pool_id: str, **kwargs: Any) -> None:
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), **kwargs)
    )


def add(client: BatchClient, job_id: str, task_id: str, command: str, **kwargs: Any) -> None:
    client.create_task(job_id, m.BatchTaskCreateOptions(id=task_id, command_line=command, **kwargs))


def completed(client: BatchClient, job_id: str, task_id: str, timeout: float = 15.0) -> m.BatchTask:
    return wait_for(
        f"task {task_id} to complete",
        lambda: (lambda t: t if t.state == "completed" else None)(client.get_task(job_id, task_id)),
        timeout,
    )


def state_is(
    client: BatchClient, job_id: str, task_id: str, state: str, timeout: float = 15.0
) -> m.BatchTask:
    return wait_for(
        f"task {task_id} to be {state}",
        lambda: (lambda t: t if t.state == state else None)(client.get_task(job_id, task_id)),
        timeout,
    )


def stdout(client: BatchClient, job_id: str, task_id: str, name: str = "stdout.txt") -> str:
    return b"".join(client.download_task_file(job_id, task_id, name)).decode()


def file_text(client: BatchClient, job_id: str, task_id: str, name: str) -> str:
    """A task file's text, or "" while it does not exist yet."""
    try:
        return stdout(client, job_id, task_id, name)
    except ResourceNotFoundError:
        return ""


def info(task: m.BatchTask) -> m.BatchTaskExecutionInfo:
    """The task's executionInfo (present once it ran)."""
    assert task.execution_info is not None, task.id
    return task.execution_info


def failure(task: m.BatchTask) -> m.BatchTaskFailureInfo:
    """The task's failureInfo (present when it failed)."""
    found = info(task).failure_info
    assert found is not None, task.id
    return found


def node_of(task: m.BatchTask) -> m.BatchNodeInfo:
    """Where the task ran."""
    assert task.node_info is not None, task.id
    return task.node_info


def times(task: m.BatchTask) -> tuple[datetime.datetime, datetime.datetime]:
    """When the task's last run started and ended."""
    run = info(task)
    assert run.start_time is not None and run.end_time is not None, task.id
    return run.start_time, run.end_time


def error_code(caught: pytest.ExceptionInfo[HttpResponseError]) -> str:
    """The Batch error code of an SDK exception."""
    assert caught.value.error is not None
    return str(caught.value.error.code)


def job_info(job: m.BatchJob) -> m.BatchJobExecutionInfo:
    assert job.execution_info is not None, job.id
    return job.execution_info


def start_info(node: m.BatchNode) -> m.BatchStartTaskInfo:
    assert node.start_task_info is not None, node.id
    return node.start_task_info


# The SDK sleeps ``polling_interval`` seconds between LRO polls; a fraction works although the
# parameter is annotated int.
POLL = cast(int, 0.05)


def alive(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] not in "ZX"
