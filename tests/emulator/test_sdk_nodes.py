"""The node operations through the real azure-batch 15.x SDK: removing chosen nodes, stopping
a resize, reboot, reimage, deallocate and start, scheduling, node users, remote login,
service logs uploaded to real Azurite, extensions, file deletion, subtasks, applications
and pool usage metrics."""

from __future__ import annotations

import datetime
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models import _models as mi
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from tests.emulator.core_helpers import (
    IMAGE,
    add,
    completed,
    make_job,
    make_pool,
    state_is,
    wait_for,
)
from tests.emulator.test_http_cli import _start

FAST = {"polling_interval": 0.05}
# 15.1.0 cannot send these calls without a body (its request builder has no content type).
DEALLOCATE = mi.BatchNodeDeallocateOptions(node_deallocate_option="requeue")
REBOOT = mi.BatchNodeRebootOptions(node_reboot_kind="requeue")
DISABLE = m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue")


def _code(fn: Callable[[], object]) -> str:
    with pytest.raises(HttpResponseError) as info:
        fn()
    return str(info.value.error.code)


def _nodes(client: BatchClient, pool_id: str = "p1") -> list[m.BatchNode]:
    return sorted(client.list_nodes(pool_id), key=lambda n: n.id)


def _node_of(client: BatchClient, job_id: str, task_id: str) -> str:
    task = client.get_task(job_id, task_id)
    assert task.node_info is not None
    return str(task.node_info.node_id)


def _running(client: BatchClient, job_id: str, task_id: str) -> str:
    state_is(client, job_id, task_id, "running")
    return _node_of(client, job_id, task_id)


def _node_state(client: BatchClient, node_id: str, state: str, pool_id: str = "p1") -> None:
    wait_for(f"node {state}", lambda: client.get_node(pool_id, node_id).state == state, 30)


def test_remove_nodes_requeues_and_lowers_the_target(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=2)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "t1", "sleep 30")
    busy = _running(batch_client, "j1", "t1")
    batch_client.begin_remove_nodes(
        "p1", m.BatchNodeRemoveOptions(node_ids=[busy], node_deallocation_option="requeue"), **FAST
    ).result()
    pool = batch_client.get_pool("p1")
    assert pool.allocation_state == "steady"
    assert pool.target_dedicated_nodes == 1 and pool.current_dedicated_nodes == 1
    assert busy not in [n.id for n in _nodes(batch_client)]
    # Requeued, then run again on the node that is left.
    task = wait_for(
        "the task to run elsewhere",
        lambda: (lambda t: t if t.state == "running" and t.node_info.node_id != busy else None)(
            batch_client.get_task("j1", "t1")
        ),
    )
    assert task.execution_info.requeue_count == 1
    assert _code(
        lambda: batch_client.begin_remove_nodes(
            "p1", m.BatchNodeRemoveOptions(node_ids=["nope"]), **FAST
        )
    ) == ("NodeNotFound")


def test_remove_nodes_terminate_completes_the_task(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "t1", "sleep 30")
    busy = _running(batch_client, "j1", "t1")
    terminate = m.BatchNodeRemoveOptions(node_ids=[busy], node_deallocation_option="terminate")
    batch_client.begin_remove_nodes("p1", terminate, **FAST).result()
    task = completed(batch_client, "j1", "t1")
    assert task.execution_info.failure_info.code == "TaskEnded"
    assert batch_client.get_pool("p1").target_dedicated_nodes == 0


def test_stop_resize_keeps_where_the_pool_got(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    batch_client.begin_stop_pool_resize("p1", **FAST).result()
    pool = batch_client.get_pool("p1")
    assert pool.allocation_state == "steady"
    assert pool.target_dedicated_nodes == pool.current_dedicated_nodes == 1
    assert _code(lambda: batch_client.begin_stop_pool_resize("nope", **FAST)) == "PoolNotFound"


def test_reboot_requeues_and_comes_back_idle(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "t1", "sleep 30")
    node = _running(batch_client, "j1", "t1")
    batch_client.begin_reboot_node(
        "p1", node, mi.BatchNodeRebootOptions(node_reboot_kind="requeue"), **FAST
    ).result()
    # Back, and the requeued task runs on it again.
    task = wait_for(
        "the requeued task to run again",
        lambda: (lambda t: t if t.state == "running" else None)(batch_client.get_task("j1", "t1")),
    )
    assert task.execution_info.requeue_count == 1
    assert batch_client.get_node("p1", node).state in ("running", "idle")


def test_reimage_terminates_and_wipes_task_directories(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "done", "echo hi")
    completed(batch_client, "j1", "done")
    add(batch_client, "j1", "t1", "sleep 30")
    node = _running(batch_client, "j1", "t1")
    assert [f.name for f in batch_client.list_task_files("j1", "done")]
    batch_client.begin_reimage_node(
        "p1", node, mi.BatchNodeReimageOptions(node_reimage_option="terminate"), **FAST
    ).result()
    assert completed(batch_client, "j1", "t1").execution_info.failure_info.code == "TaskEnded"
    _node_state(batch_client, node, "idle")
    assert _code(lambda: list(batch_client.list_task_files("j1", "done"))) == "FileNotFound"


def test_reboot_needs_an_idle_or_running_node(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    node = _nodes(batch_client)[0].id
    batch_client.begin_deallocate_node("p1", node, DEALLOCATE, **FAST).result()
    _node_state(batch_client, node, "deallocated")
    assert _code(lambda: batch_client.begin_reboot_node("p1", node, REBOOT, **FAST)) == (
        "OperationInvalidForCurrentState"
    )
    assert _code(lambda: batch_client.begin_deallocate_node("p1", node, DEALLOCATE, **FAST)) == (
        "OperationInvalidForCurrentState"
    )
    missing = _code(lambda: batch_client.begin_reboot_node("p1", "nope", REBOOT, **FAST))
    assert missing == "NodeNotFound"


def test_deallocate_then_start(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    node = _nodes(batch_client)[0].id
    assert _code(lambda: batch_client.begin_start_node("p1", node, **FAST)) == (
        "OperationInvalidForCurrentState"
    )
    batch_client.begin_deallocate_node("p1", node, DEALLOCATE, **FAST).result()
    _node_state(batch_client, node, "deallocated")
    add(batch_client, "j1", "t1", "echo back")
    assert batch_client.get_task("j1", "t1").state == "active"
    batch_client.begin_start_node("p1", node, **FAST).result()
    assert completed(batch_client, "j1", "t1").execution_info.exit_code == 0


def test_disabled_node_takes_no_new_task(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    node = _nodes(batch_client)[0].id
    batch_client.disable_node_scheduling(
        "p1", node, m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="requeue")
    )
    assert batch_client.get_node("p1", node).scheduling_state == "disabled"
    assert _code(lambda: batch_client.disable_node_scheduling("p1", node, DISABLE)) == (
        "NodeAlreadyInTargetSchedulingState"
    )
    add(batch_client, "j1", "t1", "echo hi")
    # Given time to be dispatched, it stays queued while the only node is disabled.
    with pytest.raises(AssertionError):
        state_is(batch_client, "j1", "t1", "completed", timeout=1.5)
    batch_client.enable_node_scheduling("p1", node)
    assert batch_client.get_node("p1", node).scheduling_state == "enabled"
    assert completed(batch_client, "j1", "t1").execution_info.exit_code == 0


def test_disable_scheduling_terminate_ends_the_running_task(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "t1", "sleep 30")
    node = _running(batch_client, "j1", "t1")
    batch_client.disable_node_scheduling(
        "p1", node, m.BatchNodeDisableSchedulingOptions(node_disable_scheduling_option="terminate")
    )
    assert completed(batch_client, "j1", "t1").execution_info.failure_info.code == "TaskEnded"


def test_node_users(batch_client: BatchClient, emulator: object) -> None:
    make_pool(batch_client, "p1", nodes=1)
    node = _nodes(batch_client)[0].id
    secret = "Sup3r-Secret-Pw!"  # a test value, looked for in every file below
    batch_client.create_node_user(
        "p1", node, m.BatchNodeUserCreateOptions(name="alice", is_admin=True, password=secret)
    )
    assert _code(
        lambda: batch_client.create_node_user(
            "p1", node, m.BatchNodeUserCreateOptions(name="alice", password="x")
        )
    ) == ("NodeUserExists")
    batch_client.replace_node_user(
        "p1", node, "alice", m.BatchNodeUserReplaceOptions(password="other-pw")
    )
    batch_client.delete_node_user("p1", node, "alice")
    assert _code(lambda: batch_client.delete_node_user("p1", node, "alice")) == ("NodeUserNotFound")
    assert _code(
        lambda: batch_client.replace_node_user(
            "p1", node, "bob", m.BatchNodeUserReplaceOptions(password="x")
        )
    ) == ("NodeUserNotFound")
    # The password is nowhere the emulator writes: not its database, not a node's log.
    data_dir = emulator.data_dir  # type: ignore[attr-defined]
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_remote_login_settings(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    node = _nodes(batch_client)[0].id
    settings = batch_client.get_node_remote_login_settings("p1", node)
    assert settings.remote_login_ip_address == "127.0.0.1"
    assert settings.remote_login_port >= 50000


def test_upload_node_logs_to_azurite(batch_client: BatchClient, azurite: str) -> None:
    make_pool(batch_client, "p1", nodes=1)
    node = _nodes(batch_client)[0].id
    service = BlobServiceClient.from_connection_string(azurite)
    container = service.create_container("nodelogs")
    sas = generate_container_sas(
        service.account_name,
        "nodelogs",
        account_key=service.credential.account_key,
        permission=ContainerSasPermissions(write=True, create=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    result = batch_client.upload_node_logs(
        "p1",
        node,
        m.UploadBatchServiceLogsOptions(container_url=f"{container.url}?{sas}", start_time=start),
    )
    assert result.number_of_files_uploaded == 1
    assert result.virtual_directory_name.startswith(f"p1/{node}/")
    blobs = list(container.list_blobs(name_starts_with=result.virtual_directory_name))
    assert len(blobs) == 1
    text = container.download_blob(blobs[0].name).readall().decode()
    assert "state idle" in text
    with pytest.raises(HttpResponseError) as info:
        batch_client.upload_node_logs(
            "p1",
            node,
            m.UploadBatchServiceLogsOptions(
                container_url=f"{container.url}-missing?{sas}", start_time=start
            ),
        )
    assert sas not in str(info.value)


def test_node_extensions_from_the_pool(batch_client: BatchClient) -> None:
    ext = m.VMExtension(
        name="mon", publisher="Microsoft.Azure.Monitor", type="AzureMonitorLinuxAgent"
    )
    make_pool(batch_client, "p1", nodes=1)
    node = _nodes(batch_client)[0].id
    assert list(batch_client.list_node_extensions("p1", node)) == []
    batch_client.create_pool(
        m.BatchPoolCreateOptions(
            id="p2",
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=IMAGE.image_reference,
                node_agent_sku_id=IMAGE.node_agent_sku_id,
                extensions=[ext],
            ),
        )
    )
    wait_for("a node of p2", lambda: _nodes(batch_client, "p2"))
    node2 = _nodes(batch_client, "p2")[0].id
    found = list(batch_client.list_node_extensions("p2", node2))
    assert [e.vm_extension.name for e in found] == ["mon"]
    assert found[0].provisioning_state == "Succeeded"
    assert batch_client.get_node_extension("p2", node2, "mon").vm_extension.type == (
        "AzureMonitorLinuxAgent"
    )
    assert _code(lambda: batch_client.get_node_extension("p2", node2, "x")) == "ResourceNotFound"


def test_delete_task_and_node_files(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(
        batch_client,
        "j1",
        "t1",
        "/bin/sh -c 'mkdir -p out/sub && echo a > out/sub/a.txt && echo b > one.txt "
        "&& mkdir empty && ln -s / escape'",
    )
    completed(batch_client, "j1", "t1")
    names = {f.name for f in batch_client.list_task_files("j1", "t1", recursive=True)}
    assert "wd/one.txt" in names and "wd/out/sub/a.txt" in names
    batch_client.delete_task_file("j1", "t1", "wd/one.txt")
    assert _code(lambda: batch_client.delete_task_file("j1", "t1", "wd/one.txt")) == (
        "FileNotFound"
    )
    assert _code(lambda: batch_client.delete_task_file("j1", "t1", "wd/out")) == (
        "OperationInvalidForCurrentState"
    )
    batch_client.delete_task_file("j1", "t1", "wd/empty")
    batch_client.delete_task_file("j1", "t1", "wd/out", recursive=True)
    # A link is removed as the link it is; what it points to is never reached.
    assert _code(lambda: batch_client.delete_task_file("j1", "t1", "wd/escape/etc")) == (
        "FileNotFound"
    )
    batch_client.delete_task_file("j1", "t1", "wd/escape")
    left = {f.name for f in batch_client.list_task_files("j1", "t1", recursive=True)}
    assert not {n for n in left if n.startswith(("wd/out", "wd/one", "wd/empty", "wd/escape"))}
    node = _node_of(batch_client, "j1", "t1")
    batch_client.delete_node_file("p1", node, "workitems/j1/job-1/t1/stdout.txt")
    assert _code(lambda: batch_client.delete_task_file("j1", "t1", "stdout.txt")) == (
        "FileNotFound"
    )
    assert _code(lambda: batch_client.delete_node_file("p1", node, "../x")) == "InvalidUri"


def test_subtasks_of_a_plain_task_are_none(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1, wait_idle=False)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "t1", "echo hi")
    assert list(batch_client.list_subtasks("j1", "t1")) == []
    assert _code(lambda: list(batch_client.list_subtasks("j1", "nope"))) == "TaskNotFound"


def test_applications_none_configured(batch_client: BatchClient) -> None:
    assert list(batch_client.list_applications()) == []
    assert _code(lambda: batch_client.get_application("nope")) == "ApplicationNotFound"


def test_usage_metrics_count_the_pools_core_time(batch_client: BatchClient) -> None:
    assert list(batch_client.list_pool_usage_metrics()) == []
    make_pool(batch_client, "p1", nodes=2)
    metrics = list(batch_client.list_pool_usage_metrics())
    assert [(u.pool_id, u.vm_size) for u in metrics] == [("p1", "standard_d2s_v3")]
    usage = metrics[0]
    assert usage.total_core_hours > 0
    assert (usage.end_time - usage.start_time) == datetime.timedelta(minutes=30)
    assert usage.start_time <= datetime.datetime.now(datetime.timezone.utc) < usage.end_time
    assert list(batch_client.list_pool_usage_metrics(filter="poolId eq 'other'")) == []


def test_applications_from_the_emulators_flags(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--application", "blender=3.6,4.1", "--application", "ffmpeg")
    try:
        assert proc.stdout is not None
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
        assert match
        client = BatchClient(match.group(1), AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
        apps = {a.id: a.versions for a in client.list_applications()}
        blender = client.get_application("BLENDER")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert apps == {"blender": ["3.6", "4.1"], "ffmpeg": []}
    assert (blender.id, blender.display_name) == ("blender", "blender")


def test_a_malformed_application_flag_is_explained(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--application", "bad id=1")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--application" in err and "ID[=VERSION" in err and "Traceback" not in err


def test_reboot_reruns_the_start_task_and_reimage_wipes_the_disk(
    batch_client: BatchClient,
) -> None:
    boots = m.BatchStartTask(
        command_line="/bin/sh -c 'echo boot >> $AZ_BATCH_NODE_SHARED_DIR/boots'",
        wait_for_success=True,
    )
    make_pool(batch_client, "p1", nodes=1, start_task=boots)
    node = _nodes(batch_client)[0].id

    def boot_lines() -> int:
        data = b"".join(batch_client.download_node_file("p1", node, "shared/boots"))
        return len(data.decode().splitlines())

    assert boot_lines() == 1
    batch_client.begin_reboot_node("p1", node, REBOOT, **FAST).result()
    _node_state(batch_client, node, "idle")
    assert boot_lines() == 2
    batch_client.begin_reimage_node(
        "p1", node, mi.BatchNodeReimageOptions(node_reimage_option="requeue"), **FAST
    ).result()
    _node_state(batch_client, node, "idle")
    assert boot_lines() == 1


def test_a_bad_password_is_refused_without_being_repeated(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    node = _nodes(batch_client)[0].id
    url = f"/pools/p1/nodes/{node}/users"
    request = HttpRequest(
        "POST", url, params={"api-version": "2025-06-01"}, json={"name": "u", "password": 987654}
    )
    with pytest.raises(HttpResponseError) as info:
        batch_client.send_request(request)
    assert info.value.error.code == "InvalidPropertyValue"
    assert "987654" not in str(info.value)


def test_a_start_task_still_retrying_stops_with_a_reboot(batch_client: BatchClient) -> None:
    # waitForSuccess false: the node is idle while its start task runs (and would retry).
    starts = m.BatchStartTask(
        command_line="/bin/sh -c 'echo start >> $AZ_BATCH_NODE_SHARED_DIR/starts; sleep 30'",
        wait_for_success=False,
        max_task_retry_count=3,
    )
    make_pool(batch_client, "p1", nodes=1, start_task=starts)
    node = _nodes(batch_client)[0].id

    def start_lines() -> int:
        try:
            data = b"".join(batch_client.download_node_file("p1", node, "shared/starts"))
        except HttpResponseError:
            return 0
        return len(data.decode().splitlines())

    wait_for("the first start", lambda: start_lines() == 1)
    batch_client.begin_reboot_node("p1", node, REBOOT, **FAST).result()
    wait_for("the start task of the new boot", lambda: start_lines() >= 2)
    # The killed run of the first boot does not retry beside the new one.
    with pytest.raises(AssertionError):
        wait_for("a retry of the old boot", lambda: start_lines() > 2, timeout=1.5)


def test_reboot_taskcompletion_lets_the_task_finish_first(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "t1", "sleep 1")
    node = _running(batch_client, "j1", "t1")
    batch_client.begin_reboot_node(
        "p1", node, mi.BatchNodeRebootOptions(node_reboot_kind="taskcompletion"), **FAST
    )
    assert batch_client.get_node("p1", node).state == "rebooting"
    assert _code(lambda: batch_client.begin_reboot_node("p1", node, REBOOT, **FAST)) == (
        "NodeBeingRebooted"
    )
    done = completed(batch_client, "j1", "t1")
    assert done.execution_info.result == "success"
    assert done.execution_info.requeue_count == 0
    _node_state(batch_client, node, "idle")


def test_remove_nodes_refuses_a_bad_list(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    assert _code(
        lambda: batch_client.begin_remove_nodes("p1", m.BatchNodeRemoveOptions(node_ids=[]))
    ) == ("InvalidPropertyValue")
    many = m.BatchNodeRemoveOptions(node_ids=[f"n{i}" for i in range(101)])
    assert _code(lambda: batch_client.begin_remove_nodes("p1", many)) == "InvalidPropertyValue"
    assert batch_client.get_pool("p1").target_dedicated_nodes == 1


def test_usage_metrics_count_no_time_while_the_emulator_is_stopped(tmp_path: Path) -> None:
    from batchflow.emulator.server import EmulatorServer

    def client_of(server: EmulatorServer) -> BatchClient:
        return BatchClient(server.url, AzureNamedKeyCredential(server.account, server.key))

    # Each window brackets the node's whole life in that run: its real time is within them.
    began = time.monotonic()
    with EmulatorServer(data_dir=tmp_path / "state", nodes_max=1) as first:
        make_pool(client_of(first), "p1", nodes=1)
    up_first = time.monotonic() - began
    time.sleep(3)  # stopped: no core time
    began = time.monotonic()
    with EmulatorServer(data_dir=tmp_path / "state", nodes_max=1) as second:
        client = client_of(second)
        wait_for("the node back", lambda: _nodes(client))
        hours = sum(u.total_core_hours for u in client.list_pool_usage_metrics())
        up_second = time.monotonic() - began
    cores = 2  # standard_d2s_v3
    assert 0 < hours * 3600 / cores <= up_first + up_second + 0.5


def test_node_reads_carry_etag_and_last_modified(batch_client: BatchClient) -> None:
    make_pool(batch_client, "p1", nodes=1)
    make_job(batch_client, "j1", "p1")
    add(batch_client, "j1", "t1", "echo hi")
    node = _nodes(batch_client)[0].id

    def headers(_response: object, _body: object, found: dict[str, str]) -> dict[str, str]:
        return found

    seen = batch_client.get_node_remote_login_settings("p1", node, cls=headers)
    assert seen["ETag"] and seen["Last-Modified"]
    # The task's ETag moves with each state change: compare once it has stopped changing.
    completed(batch_client, "j1", "t1")
    raw = batch_client.send_request(
        HttpRequest("GET", "/jobs/j1/tasks/t1/subtasksinfo", params={"api-version": "2025-06-01"})
    )
    assert raw.headers["ETag"] == batch_client.get_task("j1", "t1").etag  # the task's
    raw = batch_client.send_request(
        HttpRequest(
            "GET", f"/pools/p1/nodes/{node}/extensions", params={"api-version": "2025-06-01"}
        )
    )
    assert raw.headers["ETag"] and raw.headers["Last-Modified"]
