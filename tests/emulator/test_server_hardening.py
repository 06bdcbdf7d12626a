"""``EmulatorServer`` and ``batchflow emulator`` guard their account: a random key on request,
one server per data directory, a read-only mode that runs nothing, no public key served to a
network, no custom key printed. Real servers, real SDK, real processes."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.server import EmulatorServer
from batchflow.errors import UsageError
from tests.conftest import REPO
from tests.emulator.core_helpers import add, make_job, make_pool, state_is, wait_for


def _client(server: EmulatorServer, key: str | None = None) -> BatchClient:
    credential = AzureNamedKeyCredential(server.account, key or server.key)
    return BatchClient(endpoint=server.url, credential=credential)


def test_key_none_signs_with_a_fresh_random_key(tmp_path: Path) -> None:
    with (
        EmulatorServer(data_dir=tmp_path / "a", key=None) as one,
        EmulatorServer(data_dir=tmp_path / "b", key=None) as two,
    ):
        assert one.key != two.key
        assert DEV_KEY not in (one.key, two.key)
        assert len(base64.b64decode(one.key)) == 32
        assert list(_client(one).list_pools()) == []
        with pytest.raises(HttpResponseError) as refused:
            list(_client(one, DEV_KEY).list_pools())
        assert refused.value.status_code == 403


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "state"
    with EmulatorServer(data_dir=data), pytest.raises(UsageError, match=re.escape(str(data))):
        EmulatorServer(data_dir=data).start()
    with EmulatorServer(data_dir=data) as again:  # a clean stop releases the lock
        assert list(_client(again).list_pools()) == []


def _cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchflow", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=tmp_path,
    )


def _banner(proc: subprocess.Popen[str]) -> str:
    """stdout up to the "Press Ctrl-C" line of a serving emulator."""
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Press Ctrl-C"):
        line = proc.stdout.readline()
        assert line, f"the emulator ended early: {proc.communicate()}"
        lines.append(line)
    return "".join(lines)


def test_kill_9_frees_the_data_dir_and_a_second_cli_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "state"
    first = _cli(tmp_path, "--data", str(data))
    try:
        _banner(first)
        second = _cli(tmp_path, "--data", str(data))
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert str(data) in err and "Traceback" not in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with EmulatorServer(data_dir=data) as again:  # the kernel dropped the dead one's lock
        assert list(_client(again).list_pools()) == []


def test_a_non_scheduling_server_leaves_an_interrupted_run_alone(tmp_path: Path) -> None:
    data = tmp_path / "state"
    starts = tmp_path / "starts"
    boots = tmp_path / "boots"
    with EmulatorServer(data_dir=data, nodes_max=1) as first:
        client = _client(first)
        boot = m.BatchStartTask(command_line=f"/bin/sh -c 'echo boot >> {boots}'")
        make_pool(client, "pool", nodes=1, start_task=boot)
        make_job(client, "job", "pool")
        add(client, "job", "slow", f"/bin/sh -c 'echo start >> {starts}; sleep 30'")
        state_is(client, "job", "slow", "running")
        wait_for("the task to start", starts.exists)
    # stop() killed the task but left it recorded as running, as a crash would.
    assert boots.read_text().count("boot") == 1
    with EmulatorServer(data_dir=data, nodes_max=1, scheduling=False) as look:
        client = _client(look)
        time.sleep(0.5)  # what a scheduling server does in this time: see below
        task = client.get_task("job", "slow")
        # Not running: its process is gone. Requeued (the next scheduling server runs it),
        # but not started here.
        assert task.state == "active"
        assert task.execution_info is not None and task.execution_info.requeue_count == 1
        assert starts.read_text().count("start") == 1
        assert boots.read_text().count("boot") == 1
        assert client.get_job("job").state == "active"
    with EmulatorServer(data_dir=data, nodes_max=1) as resumed:
        wait_for("the requeued task to start again", lambda: starts.read_text().count("start") == 2)
        task = _client(resumed).get_task("job", "slow")
        assert task.execution_info is not None and task.execution_info.requeue_count == 1


def test_stop_returns_promptly(tmp_path: Path) -> None:
    took = []
    for i in range(3):
        server = EmulatorServer(data_dir=tmp_path / str(i)).start()
        list(_client(server).list_pools())  # a keep-alive connection is open
        begin = time.perf_counter()
        server.stop()
        took.append(time.perf_counter() - begin)
    # uvicorn alone sleeps 0.1 s twice on the way out.
    assert min(took) < 0.1, took


def test_the_public_key_is_not_served_to_a_network(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "--host", "0.0.0.0", "--data", str(tmp_path / "s"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, out
    assert "public development key" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_a_custom_key_serves_the_network_with_a_warning_and_is_never_printed(
    tmp_path: Path,
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    proc = _cli(
        tmp_path,
        "--host",
        "0.0.0.0",
        "--account",
        "myacct1",
        "--data",
        str(tmp_path / "s"),
        env={"BATCHFLOW_EMULATOR_KEY": key},
    )
    try:
        banner = _banner(proc)
        found = re.search(r"listening on http://0\.0\.0\.0:(\d+)", banner)
        assert found is not None, banner
        port = int(found.group(1))
        client = BatchClient(
            endpoint=f"http://127.0.0.1:{port}",
            credential=AzureNamedKeyCredential("myacct1", key),
        )
        assert list(client.list_pools()) == []
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert key not in banner and key not in err
    assert "<the key you passed>" in banner
    assert "export AZURE_BATCH_ACCESS_KEY='<the key you passed>'" in banner
    assert "warning: listening on 0.0.0.0" in err


def test_the_dev_key_banner_still_shows_the_key(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "--data", str(tmp_path / "s"))
    try:
        banner = _banner(proc)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert f"export AZURE_BATCH_ACCESS_KEY={DEV_KEY}" in banner
    assert f"export AZURE_BATCH_ACCOUNT={DEV_ACCOUNT}" in banner


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--key", ""), {}, "--key is empty"),
        ((), {"BATCHFLOW_EMULATOR_KEY": " "}, "BATCHFLOW_EMULATOR_KEY is empty"),
        ((), {"BATCHFLOW_EMULATOR_KEY": "not base64!"}, "base64"),
        (("--account", "bad name/../"), {}, "not a Batch account name"),
        (("--account", "UPPER"), {}, "not a Batch account name"),
        (("--account", "ab"), {}, "not a Batch account name"),
    ],
    ids=["empty-key", "empty-env-key", "bad-env-key", "account-path", "account-upper", "short"],
)
def test_bad_keys_and_account_names_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    proc = _cli(tmp_path, "--data", str(tmp_path / "s"), *args, env=env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, (out, err)
    assert message in err and "Traceback" not in err
    assert out == ""
