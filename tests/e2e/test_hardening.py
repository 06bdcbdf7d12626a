"""Hardening found by QA, through the real CLI: the in-process emulator's own key, SIGTERM,
read-only commands that run nothing, bounded Azure connections, clear usage errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchflow.azure.connect import batch_service
from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.errors import BackendError
from tests.e2e.conftest import batchflow, cli_env
from tests.e2e.test_runs import _marks, _sleepers


def _start_run(root: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml"],
        cwd=root,
        env=cli_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", banner)
    assert url, banner
    return proc, url.group(0)


def _wait_started(root: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not _marks(root, "start") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _marks(root, "start"), "no task started"


def test_a_runs_emulator_refuses_the_public_dev_key(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=4)
    proc, url = _start_run(tmp_path)
    try:
        _wait_started(tmp_path, proc)
        intruder = batch_service(url, DEV_ACCOUNT, DEV_KEY, fast=True)
        with pytest.raises(BackendError) as err:
            intruder.add_tasks("sleepers-job", [{"id": "evil", "commandLine": "true"}])
        intruder.close()
        assert "check the account name and key" in str(err.value)
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def test_unreachable_azure_endpoint_fails_in_seconds(tmp_path: Path, azurite: str) -> None:
    from tests.conftest import free_port

    _sleepers(tmp_path, 1, seconds=0)
    t0 = time.monotonic()
    res = batchflow(
        "run",
        "sleepers.yaml",
        "--target",
        "azure",
        cwd=tmp_path,
        timeout=60,
        AZURE_BATCH_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        AZURE_BATCH_ACCOUNT="acct",
        AZURE_BATCH_ACCESS_KEY="a2V5a2V5a2V5a2V5",
        AZURE_STORAGE_CONNECTION_STRING=azurite,
    )
    assert time.monotonic() - t0 < 15
    assert res.code == 3 and "the service is unreachable" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("AZURE_BATCH_ENDPOINT", "not a url", "AZURE_BATCH_ENDPOINT"),
        ("AZURE_BATCH_ENDPOINT", "ftp://x.y", "AZURE_BATCH_ENDPOINT"),
        ("AZURE_BATCH_ACCESS_KEY", "not base64!!", "AZURE_BATCH_ACCESS_KEY"),
        ("AZURE_STORAGE_CONNECTION_STRING", "garbage-secret", "AZURE_STORAGE_CONNECTION_STRING"),
    ],
)
def test_malformed_azure_settings_are_usage_errors_at_once(
    tmp_path: Path, var: str, value: str, needle: str
) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    env = {
        "AZURE_BATCH_ENDPOINT": "https://acct.westeurope.batch.azure.com",
        "AZURE_BATCH_ACCESS_KEY": "a2V5a2V5a2V5a2V5",
        "AZURE_STORAGE_CONNECTION_STRING": (
            "AccountName=x;AccountKey=a2V5a2V5;BlobEndpoint=https://x.blob.core.windows.net"
        ),
        var: value,
    }
    t0 = time.monotonic()
    res = batchflow("run", "sleepers.yaml", "--target", "azure", cwd=tmp_path, timeout=60, **env)
    assert time.monotonic() - t0 < 15
    assert res.code == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr
    if var != "AZURE_BATCH_ENDPOINT":
        assert value not in res.stderr  # a secret, even mistyped, is never echoed


def test_download_over_an_existing_file_is_a_usage_error(tmp_path: Path) -> None:
    spec = _sleepers(tmp_path, 1, seconds=0)
    spec.write_text(spec.read_text().replace("download: out/", "download: dl"))
    (tmp_path / "dl").write_text("a file, not a directory\n")
    res = batchflow("run", "sleepers.yaml", cwd=tmp_path)
    assert res.code == 2 and "dl" in res.stderr and "unexpected" not in res.stderr, res.stderr
    assert (tmp_path / "dl").read_text() == "a file, not a directory\n"


def test_state_directory_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    (tmp_path / ".batchflow").write_text("in the way\n")  # root ignores modes; a file does not
    res = batchflow("run", "sleepers.yaml", cwd=tmp_path)
    assert res.code == 2 and str(tmp_path / ".batchflow") in res.stderr, res.stderr
    assert "unexpected" not in res.stderr


def test_read_only_commands_never_start_a_requeued_task(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=30)
    proc, _ = _start_run(tmp_path)
    _wait_started(tmp_path, proc)
    proc.kill()  # the run dies with its task in flight: the state says "running"
    proc.communicate(timeout=30)
    subprocess.run(["pkill", "-KILL", "-s", str(proc.pid)], check=False)  # its task's group
    starts = len(_marks(tmp_path, "start"))
    status = batchflow("status", "sleepers.yaml", cwd=tmp_path)
    assert status.code == 0, status.stderr
    logs = batchflow("logs", "sleepers.yaml", "t-f00", cwd=tmp_path)
    assert logs.code in (0, 2), logs.stderr
    time.sleep(0.5)
    assert len(_marks(tmp_path, "start")) == starts, "a read-only command ran the task"


def test_logs_before_any_run_and_of_a_missing_task_are_usage_errors(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    before = batchflow("logs", "sleepers.yaml", "t-f00", cwd=tmp_path)
    assert before.code == 2 and "has not run here yet" in before.stderr, before.stderr
    status = batchflow("status", "sleepers.yaml", cwd=tmp_path)
    assert status.code == 0 and "not created" in status.stdout, status.stderr


def test_huge_output_is_read_by_its_tail_and_streamed(tmp_path: Path) -> None:
    spec = _sleepers(tmp_path, 1, seconds=0)
    script = tmp_path / "big.py"
    script.write_text(
        "import sys\n"
        "sys.stdout.write('x' * 3000000 + '\\n')\n"
        "sys.stderr.write('y' * 3000000 + '\\nlast words\\n')\n"
        "sys.exit(3)\n"
    )
    big = f"{sys.executable} {script}"
    text = spec.read_text()
    start = text.index("  command: >-")
    end = text.index("  outputs:")
    spec.write_text(text[:start] + f"  command: {big}\n" + text[end:])
    res = batchflow("run", "sleepers.yaml", "--json", "--keep", cwd=tmp_path)
    assert res.code == 1, res.stderr
    (failed,) = res.json()["failed_tasks"]
    assert failed["stderr_tail"] == "last words"  # the 3 MB line is not fetched, nor shown
    logs = batchflow("logs", "sleepers.yaml", "t-f00", cwd=tmp_path)
    assert logs.code == 0 and logs.stdout == "x" * 3000000 + "\n"


def _processes_with(token: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if token in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_sigterm_stops_the_run_and_its_tasks(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=27.125)  # a duration no other process sleeps
    proc, _ = _start_run(tmp_path)
    _wait_started(tmp_path, proc)
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "Terminated" in err and "batchflow run sleepers.yaml" in err
    assert "Traceback" not in err
    time.sleep(0.3)
    assert not _processes_with("27.125"), "a task process outlived the run"


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    import os

    _sleepers(tmp_path, 1, seconds=0)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written (`| head -c0`)
    proc = subprocess.run(
        [sys.executable, "-m", "batchflow", "plan", "sleepers.yaml", "--json"],
        cwd=tmp_path, env=cli_env(), stdout=write_end, stderr=subprocess.PIPE, text=True,
        timeout=60,
    )  # fmt: skip
    os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_progress_off_a_terminal_is_plain_lines(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=0)
    res = batchflow("run", "sleepers.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    lines = res.stderr.splitlines()
    assert "pool: 2 of 2 nodes usable" in lines and "tasks: added 2 tasks" in lines
    assert "watch: 2 succeeded, 0 failed, 0 running, 0 waiting (2 of 2 done)" in lines
    assert not any(ch in res.stderr for ch in "…━\x1b")


def test_success_counts_the_specs_tasks_not_strangers(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=2)
    key = "c3BlYy1vd25lcidzIG93biBrZXkgZm9yIHRoaXMgdGVzdA=="
    proc, url = _start_run(tmp_path, BATCHFLOW_EMULATOR_KEY=key)
    _wait_started(tmp_path, proc)
    owner = batch_service(url, DEV_ACCOUNT, key, fast=True)
    owner.add_tasks("sleepers-job", [{"id": "extra", "commandLine": "true"}])
    owner.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "The task succeeded" in err and "1 task not in the spec" in err


def test_an_autoscale_spec_runs_on_the_local_target(tmp_path: Path) -> None:
    # The pool starts with no node (no task is pending at create) and grows when the tasks
    # come: the local emulator's autoscale clock runs fast, so the 5-minute evaluation
    # interval passes in seconds.
    (tmp_path / "auto.yaml").write_text(
        "version: 1\nname: auto\npool:\n  vm_size: standard_a1_v2\n  image: ubuntu-22.04\n"
        "  autoscale:\n    interval: 5m\n    formula: >-\n"
        "      $TargetDedicatedNodes = min(2, $PendingTasks.GetSample(1));\n"
        "tasks:\n  matrix: {i: [1, 2, 3]}\n  command: echo done-{item.i}\n"
    )
    t0 = time.monotonic()
    res = batchflow("run", "auto.yaml", cwd=tmp_path, timeout=120)
    assert res.code == 0, res.stderr
    assert time.monotonic() - t0 < 60


def test_the_in_process_emulator_logs_to_a_file_not_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import logging

    from batchflow.local.target import local_emulator

    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\n")
    with local_emulator(spec, scheduling=False):
        logging.getLogger("batchflow.emulator.runner").warning("an emulator trace line")
    logging.getLogger("batchflow.emulator").warning("after the run")  # the file is let go
    log = (tmp_path / ".batchflow" / "emulator.log").read_text()
    assert "an emulator trace line" in log and "after the run" not in log
    assert "an emulator trace line" not in capfd.readouterr().err
