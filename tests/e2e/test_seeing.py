"""Seeing a run: status and logs while it runs, run records, logs after cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import batchflow, cli_env
from tests.e2e.test_runs import _marks, _sleepers


def _start_run(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml", *args],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(cond: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_status_and_logs_work_while_a_local_run_is_in_progress(tmp_path: Path) -> None:
    _sleepers(tmp_path, 4, seconds=4)
    run = _start_run(tmp_path)
    try:
        _wait_for(lambda: _marks(tmp_path, "start"))
        status = batchflow("status", "sleepers.yaml", "--json", cwd=tmp_path)
        assert status.code == 0, status.stderr
        report = status.json()
        assert report["job"]["id"] == "sleepers-job"
        assert report["tasks"]["running"] + report["tasks"]["active"] >= 1
        logs = batchflow("logs", "sleepers.yaml", "t-f00", cwd=tmp_path)
        assert logs.code in (0, 2), logs.stderr  # 2: t-f00 not started yet (4 tasks, 4 slots)
        assert "another batchflow command" not in logs.stderr
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    endpoint = tmp_path / ".batchflow" / "endpoint.json"
    assert not endpoint.exists()  # the run removes what it published


def test_endpoint_file_is_private_and_removed(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=3)
    run = _start_run(tmp_path)
    endpoint = tmp_path / ".batchflow" / "endpoint.json"
    try:
        _wait_for(endpoint.exists)
        assert endpoint.stat().st_mode & 0o777 == 0o600
        assert "http://127.0.0.1:" in endpoint.read_text()
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    assert not endpoint.exists()


def test_a_readable_endpoint_file_is_not_trusted(tmp_path: Path) -> None:
    """A key file others can read (or one someone else planted) is ignored: the reader
    reports the busy directory (exit 3) rather than talking to an unknown server."""
    _sleepers(tmp_path, 2, seconds=4)
    run = _start_run(tmp_path)
    endpoint = tmp_path / ".batchflow" / "endpoint.json"
    try:
        _wait_for(endpoint.exists)
        os.chmod(endpoint, 0o644)
        status = batchflow("status", "sleepers.yaml", cwd=tmp_path)
        assert status.code == 3 and "another batchflow command" in status.stderr
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)


def _mixed(root: Path, keep_logs: str = "failed") -> Path:
    """Four tasks; t2 fails (exit 1) after writing to stdout and stderr."""
    spec = root / "mixed.yaml"
    spec.write_text(
        f"""version: 1
name: mixed
pool: {{vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {{dedicated: 2}}}}
tasks:
  matrix: {{i: [1, 2, 3, 4]}}
  id: "t{{index}}"
  command: /bin/sh -c "echo hello {{item.i}}; echo oops {{item.i}} >&2; test {{item.i}} -ne 3"
keep_logs: {keep_logs}
cleanup: {{job: delete, pool: delete, when: always}}
"""
    )
    return spec


def test_a_run_leaves_a_record_that_runs_lists(tmp_path: Path) -> None:
    _mixed(tmp_path)
    assert batchflow("run", "mixed.yaml", cwd=tmp_path).code == 1
    assert batchflow("run", "mixed.yaml", cwd=tmp_path).code == 1
    res = batchflow("runs", "mixed.yaml", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    runs = res.json()
    assert len(runs) == 2 and runs[0]["run"] > runs[1]["run"]  # newest first
    first = runs[0]
    assert first["outcome"] == "failed" and first["total"] == 4
    # the first run ran all four; the second only the failed one (the rest were up to date)
    assert runs[1]["tasks"] == {"success": 3, "failure": 1}
    assert first["tasks"] == {"failure": 1}
    assert set(first["seconds"]) >= {"inputs", "pool", "job", "tasks", "watch", "collect"}
    assert len(first["fingerprint"]) == 64 and first["cleaned_up"]
    record = tmp_path / ".batchflow" / "runs" / first["run"] / "record.jsonl"
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    t2 = next(x for x in lines if x["kind"] == "task" and x["id"] == "t2")
    assert t2["result"] == "failure" and t2["exit_code"] == 1 and t2["node"]
    assert t2["start"] <= t2["end"] and t2["retries"] == 0 and t2["category"] == "usererror"
    text = batchflow("runs", "mixed.yaml", cwd=tmp_path)
    assert "3 of 4 succeeded, 1 failed" in text.stdout


def test_a_killed_run_leaves_a_usable_record(tmp_path: Path) -> None:
    _sleepers(tmp_path, 40, seconds=0.5)
    run = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_for(lambda: len(_marks(tmp_path, "done")) >= 8)
    time.sleep(1.5)  # a listing of completed tasks happens at most every second or so
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    res = batchflow("runs", "sleepers.yaml", "--json", cwd=tmp_path)
    (only,) = res.json()
    assert only["outcome"] == "running" and only["ended"] is None
    assert only["tasks"].get("success", 0) >= 1
    assert "running (or killed)" in batchflow("runs", "sleepers.yaml", cwd=tmp_path).stdout


def test_logs_and_status_after_cleanup_come_from_the_record(tmp_path: Path) -> None:
    _mixed(tmp_path)
    assert batchflow("run", "mixed.yaml", cwd=tmp_path).code == 1  # cleaned up: when always
    logs = batchflow("logs", "mixed.yaml", "t2", "--stderr", cwd=tmp_path)
    assert logs.code == 0 and logs.stdout == "oops 3\n", logs.stderr
    assert "kept it" in logs.stderr
    kept = batchflow("logs", "mixed.yaml", "t0", cwd=tmp_path)
    assert kept.code == 2 and "was not kept" in kept.stderr and "keep_logs: all" in kept.stderr
    status = batchflow("status", "mixed.yaml", cwd=tmp_path)
    assert status.code == 0
    assert "failed 3 of 4, 1 failed at" in status.stdout
    assert "job mixed-job: deleted by cleanup" in status.stdout
    failed = batchflow(
        "status", "mixed.yaml", "--tasks", "--state", "failed", "--json", cwd=tmp_path
    )
    rows = failed.json()["tasks"]
    assert [r["id"] for r in rows] == ["t2"] and rows[0]["attempts"] == 1 and rows[0]["node"]


def test_keep_logs_all_keeps_every_tasks_output(tmp_path: Path) -> None:
    _mixed(tmp_path, keep_logs="all")
    assert batchflow("run", "mixed.yaml", cwd=tmp_path).code == 1
    logs = batchflow("logs", "mixed.yaml", "t0", cwd=tmp_path)
    assert logs.code == 0 and logs.stdout == "hello 1\n", logs.stderr


def test_logs_follow_streams_a_running_task(tmp_path: Path) -> None:
    spec = tmp_path / "slow.yaml"
    started = tmp_path / "started"
    spec.write_text(
        f"""version: 1
name: slow
pool: {{vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {{dedicated: 1}}}}
tasks:
  matrix: {{i: [1]}}
  id: "slow"
  command: /bin/sh -c "touch {started}; for i in 1 2 3 4; do echo line $i; sleep 0.5; done"
"""
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "slow.yaml"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(started.exists)
        logs = batchflow("logs", "slow.yaml", "slow", "--follow", cwd=tmp_path)
        assert logs.code == 0, logs.stderr
        assert logs.stdout == "".join(f"line {i}\n" for i in range(1, 5))
    finally:
        run.wait(timeout=60)


def test_logs_of_a_task_whose_node_is_gone_say_so(tmp_path: Path) -> None:
    (tmp_path / "n.yaml").write_text(
        """version: 1
name: n1
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 1}}
tasks:
  matrix: {i: [1]}
  id: "t{index}"
  command: /bin/sh -c "echo hi"
cleanup: {job: keep, pool: delete}
"""
    )
    assert batchflow("run", "n.yaml", cwd=tmp_path).code == 0
    logs = batchflow("logs", "n.yaml", "t0", cwd=tmp_path)
    assert logs.code == 2 and "which is gone (its pool was deleted)" in logs.stderr


def test_end_of_run_summary_and_json_task_records(tmp_path: Path) -> None:
    _mixed(tmp_path)
    res = batchflow("run", "mixed.yaml", cwd=tmp_path)
    assert res.code == 1
    assert "tasks             3      1" in res.stderr and "slowest:" in res.stderr
    assert "why t2 failed: batchflow logs mixed.yaml t2 --stderr" in res.stderr
    fresh = tmp_path / "fresh"  # a rerun would run only t2: the others are up to date
    fresh.mkdir()
    _mixed(fresh)
    js = batchflow("run", "mixed.yaml", "--json", cwd=fresh)
    records = {r["id"]: r for r in js.json()["task_records"]}
    assert set(records) == {"t0", "t1", "t2", "t3"} and records["t2"]["exit_code"] == 1
