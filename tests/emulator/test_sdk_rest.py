"""The REST surface through the real azure-batch 15.x SDK: CRUD of pools, jobs and tasks, the
service's error codes as SDK exceptions, paging, $select, ETag/If-Match, 413 chunk halving in
``create_tasks``, the file API and fault injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy

from batchflow.errors import BackendError
from tests.emulator.core_helpers import make_job, make_pool, wait_for


def _pool(client: BatchClient, pool_id: str = "p1", nodes: int = 1) -> None:
    make_pool(client, pool_id, nodes, slots=2, wait_idle=False)


def _job(client: BatchClient, job_id: str = "j1", pool_id: str = "p1") -> None:
    make_job(client, job_id, pool_id)


def _until(predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    return wait_for(what, predicate, timeout)


def _code(fn: Callable[[], object]) -> str:
    with pytest.raises(HttpResponseError) as info:
        fn()
    return str(info.value.error.code)


def test_pool_lifecycle(batch_client: BatchClient) -> None:
    _pool(batch_client)
    with pytest.raises(ResourceExistsError):
        _pool(batch_client)
    assert _code(lambda: _pool(batch_client)) == "PoolExists"
    assert batch_client.pool_exists("p1") is True
    with pytest.raises(ResourceNotFoundError):
        batch_client.pool_exists("nope")
    assert _code(lambda: batch_client.get_pool("nope")) == "PoolNotFound"
    pool = batch_client.get_pool("p1")
    assert pool.vm_size == "standard_d2s_v3" and pool.url.endswith("/pools/p1")
    batch_client.update_pool(
        "p1", m.BatchPoolUpdateOptions(metadata=[m.BatchMetadataItem(name="team", value="a")])
    )
    assert batch_client.get_pool("p1").metadata[0].value == "a"
    batch_client.replace_pool_properties(
        "p1", m.BatchPoolReplaceOptions(metadata=[], application_package_references=[])
    )
    assert not batch_client.get_pool("p1").metadata
    batch_client.begin_resize_pool(
        "p1", m.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=0.05
    ).result()
    nodes = _until(
        lambda: (
            [n for n in batch_client.list_nodes("p1") if n.state == "idle"]
            if len(list(batch_client.list_nodes("p1"))) == 2
            else None
        ),
        "two nodes",
    )
    assert batch_client.get_node("p1", nodes[0].id).id == nodes[0].id
    assert _code(lambda: batch_client.get_node("p1", "nope")) == "NodeNotFound"
    assert [p.id for p in batch_client.list_pools()] == ["p1"]
    batch_client.begin_delete_pool("p1", polling_interval=0.05).result()
    assert _code(lambda: batch_client.get_pool("p1")) == "PoolNotFound"


def test_job_lifecycle(batch_client: BatchClient) -> None:
    _pool(batch_client)
    _job(batch_client)
    assert _code(lambda: _job(batch_client)) == "JobExists"
    assert _code(lambda: batch_client.get_job("nope")) == "JobNotFound"
    batch_client.update_job("j1", m.BatchJobUpdateOptions(priority=10))
    assert batch_client.get_job("j1").priority == 10
    job = batch_client.get_job("j1")
    batch_client.replace_job("j1", m.BatchJob(pool_info=m.BatchPoolInfo(pool_id="p1"), priority=5))
    assert batch_client.get_job("j1").priority == 5
    assert [j.id for j in batch_client.list_jobs()] == ["j1"]
    with pytest.raises(ResourceModifiedError) as info:  # the eTag read before the replace
        batch_client.update_job(
            "j1",
            m.BatchJobUpdateOptions(priority=1),
            etag=job.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    assert info.value.status_code == 412 and info.value.error.code == "ConditionNotMet"
    fresh = batch_client.get_job("j1")
    batch_client.update_job(
        "j1",
        m.BatchJobUpdateOptions(priority=2),
        etag=fresh.etag,
        match_condition=MatchConditions.IfNotModified,
    )
    # (15.1.0 cannot send a terminate without options: it fails client-side on content-type)
    reason = m._models.BatchJobTerminateOptions(termination_reason="done by test")
    batch_client.begin_terminate_job("j1", reason, polling_interval=0.05).result()
    assert batch_client.get_job("j1").state == "completed"
    batch_client.begin_delete_job("j1", polling_interval=0.05).result()
    assert _code(lambda: batch_client.get_job("j1")) == "JobNotFound"


def test_tasks_paging_select_and_filter(batch_client: BatchClient) -> None:
    _pool(batch_client, nodes=0)  # no node: the tasks stay active, nothing runs
    _job(batch_client)
    batch_client.create_task("j1", m.BatchTaskCreateOptions(id="t-one", command_line="/bin/true"))
    assert (
        _code(
            lambda: batch_client.create_task(
                "j1", m.BatchTaskCreateOptions(id="t-one", command_line="/bin/true")
            )
        )
        == "TaskExists"
    )
    tasks = [
        m.BatchTaskCreateOptions(id=f"t{i:03d}", command_line="/bin/true") for i in range(1200)
    ]
    result = batch_client.create_tasks("j1", tasks, max_concurrency=4)
    assert len(result.result_values) == 1200
    assert {r.status for r in result.result_values} == {"success"}
    pages = batch_client.list_tasks("j1", max_results=250).by_page()
    sizes = [len(list(page)) for page in pages]
    assert sizes == [250, 250, 250, 250, 201]
    selected = list(batch_client.list_tasks("j1", max_results=500, select=["id", "state"]))
    assert len(selected) == 1201
    assert all(t.command_line is None and t.id for t in selected)
    assert batch_client.get_job_task_counts("j1").task_counts.active == 1201
    active = list(batch_client.list_tasks("j1", filter="state eq 'active'", max_results=700))
    assert len(active) == 1201
    assert not list(batch_client.list_tasks("j1", filter="state eq 'completed'"))
    assert _code(lambda: batch_client.get_task("j1", "nope")) == "TaskNotFound"
    assert batch_client.get_task("j1", "t007", select=["id"]).command_line is None


def test_create_tasks_halves_chunks_on_request_body_too_large(
    emulator: Any, batch_client: BatchClient
) -> None:
    _pool(batch_client, nodes=0)
    _job(batch_client)
    big = "x" * 15_000  # 100 such tasks are > 1 MB: the first chunks are refused with 413
    tasks = [
        m.BatchTaskCreateOptions(
            id=f"big{i:03d}",
            command_line="/bin/true",
            environment_settings=[m.EnvironmentSetting(name="PAD", value=big)],
        )
        for i in range(250)
    ]
    result = batch_client.create_tasks("j1", tasks, max_concurrency=4)
    assert len(result.result_values) == 250
    calls = emulator.control.counters()["Task_AddCollection"]
    assert calls > 250 / 100  # refused chunks were halved and resent
    ids = {t.id for t in batch_client.list_tasks("j1", select=["id"])}
    assert ids == {f"big{i:03d}" for i in range(250)}


def test_task_operations_and_files(batch_client: BatchClient) -> None:
    _pool(batch_client)
    _job(batch_client)
    batch_client.create_task(
        "j1",
        m.BatchTaskCreateOptions(
            id="writer",
            command_line="/bin/sh -c 'mkdir -p out; printf 0123456789 > "
            '"out/a b.txt"; echo done\'',
        ),
    )
    _until(lambda: batch_client.get_task("j1", "writer").state == "completed", "writer")
    names = {
        f.name: f.is_directory for f in batch_client.list_task_files("j1", "writer", recursive=True)
    }
    assert names["stdout.txt"] is False and names["wd"] is True
    assert names["wd/out/a b.txt"] is False
    top = {f.name for f in batch_client.list_task_files("j1", "writer")}
    assert "wd/out" not in top and "stdout.txt" in top
    data = b"".join(
        batch_client.download_task_file("j1", "writer", "wd/out/a b.txt", ocp_range="bytes=2-5")
    )
    assert data == b"2345"
    props = batch_client.get_task_file_properties("j1", "writer", "wd/out/a b.txt")
    assert props.content_length == 10 and props.is_directory is False
    assert props.url.endswith("/files/wd%2Fout%2Fa%20b.txt")
    node_id = batch_client.get_task("j1", "writer").node_info.node_id
    node_files = {f.name for f in batch_client.list_node_files("p1", node_id, recursive=True)}
    assert "workitems/j1/job-1/writer/stdout.txt" in node_files
    with pytest.raises(ResourceNotFoundError):  # streamed: the SDK leaves the body unread
        b"".join(batch_client.download_task_file("j1", "writer", "nope.txt"))

    batch_client.create_task(
        "j1", m.BatchTaskCreateOptions(id="fails", command_line="/bin/sh -c 'exit 3'")
    )
    _until(lambda: batch_client.get_task("j1", "fails").state == "completed", "fails")
    batch_client.reactivate_task("j1", "fails")
    assert batch_client.get_task("j1", "fails").state in ("active", "running", "completed")
    batch_client.create_task("j1", m.BatchTaskCreateOptions(id="sleeper", command_line="sleep 30"))
    _until(lambda: batch_client.get_task("j1", "sleeper").state == "running", "sleeper runs")
    batch_client.replace_task(
        "j1", "sleeper", m.BatchTask(constraints=m.BatchTaskConstraints(max_task_retry_count=0))
    )
    batch_client.terminate_task("j1", "sleeper")
    _until(lambda: batch_client.get_task("j1", "sleeper").state == "completed", "terminated")
    batch_client.delete_task("j1", "sleeper")
    assert _code(lambda: batch_client.get_task("j1", "sleeper")) == "TaskNotFound"


def test_fault_injection_and_counters(emulator: Any, batch_client: BatchClient) -> None:
    _pool(batch_client)
    _job(batch_client)
    emulator.control.set_faults(error_rate=1.0, status=503, operations=["Job_GetTaskCounts"])
    no_retry = BatchClient(
        emulator.url,
        AzureNamedKeyCredential(emulator.account, emulator.key),
        retry_policy=RetryPolicy(retry_total=0),
    )
    with pytest.raises(HttpResponseError) as info:
        no_retry.get_job_task_counts("j1")
    assert info.value.status_code == 503 and info.value.error.code == "ServerBusy"
    assert no_retry.get_job("j1").id == "j1"  # other operations are not affected
    emulator.control.set_faults(drop_rate=1.0, operations=["Job_Get"])
    with pytest.raises(ServiceResponseError):
        no_retry.get_job("j1")
    emulator.control.clear_faults()
    assert no_retry.get_job_task_counts("j1").task_counts.active == 0
    counts = emulator.control.counters()
    assert counts["Job_GetTaskCounts"] == 2 and counts["Job_Get"] == 2
    assert counts["Pool_Add"] == 1 and counts["Job_Add"] == 1
    assert not any(name.startswith("Control") for name in counts)
    emulator.control.reset()
    assert emulator.control.counters() == {}
    assert _code(lambda: no_retry.get_job("j1")) == "JobNotFound"


def test_unknown_and_unsupported_fields_reach_the_sdk_as_named_400s(
    batch_client: BatchClient,
) -> None:
    _pool(batch_client, nodes=0)
    _job(batch_client)
    container = m.BatchTaskCreateOptions(
        id="c1",
        command_line="/bin/true",
        container_settings=m.BatchTaskContainerSettings(image_name="ubuntu:22.04"),
    )
    with pytest.raises(HttpResponseError) as info:
        batch_client.create_task("j1", container)
    assert info.value.status_code == 400
    details = {d.code: d.message for d in info.value.error.details}
    assert details["PropertyName"] == "containerSettings"
    assert "does not support" in details["Reason"]
    # The 15.x models are mappings: a misspelt REST field travels as is and is named back.
    typo = m.BatchTaskCreateOptions({"id": "t1", "commandLine": "/bin/true", "maxTaskRetryCnt": 3})
    with pytest.raises(HttpResponseError) as info:
        batch_client.create_task("j1", typo)
    assert info.value.error.code == "InvalidRequestBody"
    assert {d.code: d.message for d in info.value.error.details}["PropertyName"] == (
        "maxTaskRetryCnt"
    )


def test_losing_a_node_through_the_control_surface(
    emulator: Any, batch_client: BatchClient
) -> None:
    _pool(batch_client)
    _job(batch_client)
    batch_client.create_task("j1", m.BatchTaskCreateOptions(id="long", command_line="sleep 30"))
    _until(lambda: batch_client.get_task("j1", "long").state == "running", "running")
    ran_on = batch_client.get_task("j1", "long").node_info.node_id
    lost = emulator.control.lose_node("p1")
    assert lost == ran_on
    assert lost not in {n.id for n in batch_client.list_nodes("p1")}
    _until(
        lambda: batch_client.get_task("j1", "long").execution_info.requeue_count == 1,
        "the task requeued",
    )
    with pytest.raises(BackendError) as info:
        emulator.control.lose_node("nope")
    assert info.value.code == "PoolNotFound"


def test_a_seeded_fault_rate_fails_the_same_requests_each_time(
    emulator: Any, batch_client: BatchClient
) -> None:
    _pool(batch_client, nodes=0)
    no_retry = BatchClient(
        emulator.url,
        AzureNamedKeyCredential(emulator.account, emulator.key),
        retry_policy=RetryPolicy(retry_total=0),
    )

    def outcomes() -> list[bool]:
        emulator.control.set_faults(error_rate=0.5, operations=["Pool_Get"], seed=7)
        seen = []
        for _ in range(40):
            try:
                no_retry.get_pool("p1")
                seen.append(True)
            except HttpResponseError as exc:
                assert exc.status_code == 503
                seen.append(False)
        return seen

    first = outcomes()
    assert 5 < first.count(False) < 35  # about half fail
    assert outcomes() == first
