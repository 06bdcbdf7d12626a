"""A service that cannot go on stops serving and says why: a thread that dies is heard of,
and a store on a full disk (a real tmpfs) turns every request into the reason, never a
service that answers polls while nothing runs."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.server import EmulatorServer
from batchflow.emulator.state.core import Workers
from batchflow.emulator.state.loop import Loop
from batchflow.errors import BatchflowError, EnvironmentProblem
from tests.conftest import small_tmpfs
from tests.emulator.core_helpers import add, make_job, make_pool
from tests.emulator.http_helpers import call
from tests.emulator.test_server_hardening import _banner, _cli


def _boom() -> None:
    raise RuntimeError("boom")


def test_a_loop_thread_that_raises_is_reported_with_its_name() -> None:
    heard: list[tuple[str, BaseException]] = []
    done = threading.Event()

    def on_death(name: str, exc: BaseException) -> None:
        heard.append((name, exc))
        done.set()

    Loop("batch-scheduler", threading.Condition(), _boom, on_death).start()
    assert done.wait(10)
    assert heard[0][0] == "batch-scheduler" and str(heard[0][1]) == "boom"


def test_a_task_worker_that_raises_is_reported_and_keeps_serving() -> None:
    heard: list[str] = []
    done = threading.Event()
    workers = Workers(lambda name, exc: (heard.append(f"{name}: {exc}"), done.set()))
    workers.submit(_boom)
    assert done.wait(10) and heard == ["task-worker: boom"]
    ran = threading.Event()
    workers.submit(ran.set)  # the thread serves the next attempt
    assert ran.wait(10)


def test_a_full_disk_stops_the_service_and_every_request_says_why(tmp_path: Path) -> None:
    heard: list[BatchflowError] = []
    stopped = threading.Event()

    def on_failure(exc: BatchflowError) -> None:
        heard.append(exc)
        stopped.set()

    with (
        small_tmpfs(tmp_path / "state", "1m") as data,
        EmulatorServer(data_dir=data, nodes_max=1, on_failure=on_failure) as emu,
    ):
        client = BatchClient(emu.url, AzureNamedKeyCredential(emu.account, emu.key))
        make_pool(client, "p")
        make_job(client, "j", "p")
        # The task fills the disk; recording its completion then fails (SQLITE_FULL) on
        # the task's own thread, the one whose death used to go unnoticed.
        add(client, "j", "fill", "/bin/sh -c 'head -c 4000000 /dev/zero > big; sleep 0.3'")
        # No poll for "running" first: under load the task can fill the disk and end before
        # a poll sees it run, and then the poll itself meets the stopped service.
        assert stopped.wait(30), "the service did not notice its full disk"
        assert isinstance(heard[0], EnvironmentProblem)
        assert "disk full" in str(heard[0]) and str(data) in str(heard[0])
        answer = call(emu, "GET", "/jobs/j")  # a read: it needs no space, yet is refused
        assert answer.status_code == 500
        assert "stopped serving: disk full" in answer.text
        client.close()


def test_the_emulator_command_exits_when_its_disk_is_full(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "state", "1m") as data:
        proc = _cli(tmp_path, "--data", str(data))
        try:
            url = re.search(r"http://127\.0\.0\.1:\d+", _banner(proc))
            assert url
            client = BatchClient(url.group(0), AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
            make_pool(client, "p")
            make_job(client, "j", "p")
            add(client, "j", "fill", "/bin/sh -c 'head -c 4000000 /dev/zero > big; sleep 0.3'")
            _out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err
    assert "error: disk full" in err and str(data) in err and "Traceback" not in err, err
