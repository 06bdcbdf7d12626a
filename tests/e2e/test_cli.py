"""CLI behaviour around runs: Ctrl-C, --json, lazy imports, usage errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import batchflow, cli_env
from tests.e2e.test_runs import _marks, _sleepers


def _interrupted_run(root: Path, *args: str, **env: str) -> str:
    """Start ``batchflow run sleepers.yaml ARGS``, Ctrl-C it once a task has started; its
    stderr (after checking it exited 130)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml", *args],
        cwd=root,
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _marks(root, "start") and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    return err


def test_ctrl_c_stops_and_says_how_to_resume(tmp_path: Path) -> None:
    _sleepers(tmp_path, 8, seconds=5)
    err = _interrupted_run(tmp_path)
    assert "requeued" in err and "batchflow down sleepers.yaml" in err
    assert "Traceback" not in err


def test_json_summary_only_on_stdout(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=0)
    res = batchflow("run", "sleepers.yaml", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    summary = res.json()
    assert summary["succeeded"] is True and summary["inputs"]["uploaded"] == 2
    assert "━" not in res.stderr  # no progress bar with --json


def test_run_commands_import_nothing_heavy_until_called() -> None:
    code = (
        "import sys, batchflow.cli; "
        "bad = [m for m in sys.modules if m.startswith(('azure', 'rich'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def test_bad_spec_exits_2_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\nname: bad\npool: {nodes: -1}\n")
    res = batchflow("run", "bad.yaml", cwd=tmp_path)
    assert res.code == 2
    assert not (tmp_path / ".batchflow").exists()


def test_azure_target_without_settings_names_the_variable(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    res = batchflow("run", "sleepers.yaml", "--target", "azure", cwd=tmp_path)
    assert res.code == 2 and "AZURE_BATCH_ENDPOINT" in res.stderr


def test_storage_azurite_needs_its_connection_string(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    res = batchflow("run", "sleepers.yaml", "--storage", "azurite", cwd=tmp_path)
    assert res.code == 2 and "AZURE_STORAGE_CONNECTION_STRING" in res.stderr


def test_looking_at_a_spec_that_never_ran_creates_nothing(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    status = batchflow("status", "sleepers.yaml", "--json", cwd=tmp_path)
    assert status.code == 0 and status.json()["job"] is None
    assert batchflow("logs", "sleepers.yaml", "t-f00", cwd=tmp_path).code == 2  # usage
    assert batchflow("down", "sleepers.yaml", "--yes", cwd=tmp_path).code == 0
    assert not (tmp_path / ".batchflow").exists()


def test_a_second_local_command_waits_its_turn(tmp_path: Path) -> None:
    _sleepers(tmp_path, 4, seconds=5)
    first = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _marks(tmp_path, "start") and time.monotonic() < deadline:
            time.sleep(0.05)
        second = batchflow("run", "sleepers.yaml", cwd=tmp_path)
        # A busy state directory is not a bad spec nor bad usage: exit 3, not 2.
        assert second.code == 3 and "another batchflow command" in second.stderr
        down = batchflow("down", "sleepers.yaml", "--yes", cwd=tmp_path)
        assert down.code == 3 and "another batchflow command" in down.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=30)
    assert len(_marks(tmp_path, "start")) <= 4  # the refused run started nothing


def test_ctrl_c_on_azure_names_the_pool_left_allocated(
    tmp_path: Path, emulator: object, azurite: str
) -> None:
    """On Azure an interrupted run leaves the pool billing: the last lines say so, with the
    command that deletes it."""
    _sleepers(tmp_path, 4, seconds=5)
    err = _interrupted_run(
        tmp_path,
        "--target",
        "azure",
        AZURE_BATCH_ENDPOINT=emulator.url,  # type: ignore[attr-defined]
        AZURE_BATCH_ACCOUNT=emulator.account,  # type: ignore[attr-defined]
        AZURE_BATCH_ACCESS_KEY=emulator.key,  # type: ignore[attr-defined]
        AZURE_STORAGE_CONNECTION_STRING=azurite,
    )
    assert "Pool sleepers-pool is still allocated" in err, err
    assert "`batchflow down sleepers.yaml --target azure` deletes it" in err, err
    assert "Traceback" not in err


def test_a_rerun_after_ctrl_c_says_why_tasks_were_requeued(tmp_path: Path) -> None:
    """The tasks Ctrl-C caught running run again: the summary said their node was
    "preempted or lost", which on the local target nobody's node was."""
    _sleepers(tmp_path, 2, seconds=1)
    _interrupted_run(tmp_path)
    res = batchflow("run", "sleepers.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    line = next(x for x in res.stderr.splitlines() if x.startswith("requeued: "))
    assert "or the run before was stopped" in line, line
