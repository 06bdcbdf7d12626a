"""Tasks run as real processes through the real SDK: exit codes, stdout, retries, wall clock,
launch failures, environment, terminate, reactivate, $filter."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from tests.emulator.core_helpers import (
    add,
    alive,
    completed,
    file_text,
    make_job,
    make_pool,
    state_is,
    stdout,
    wait_for,
)


@pytest.fixture()
def job(batch_client: object) -> str:
    make_pool(batch_client, "pool", nodes=2, slots=2)  # type: ignore[arg-type]
    make_job(batch_client, "job", "pool")  # type: ignore[arg-type]
    return "job"


def test_success_and_failure_with_exit_codes_and_stdout(batch_client, job) -> None:
    add(batch_client, job, "ok", "/bin/sh -c 'echo hello $AZ_BATCH_TASK_ID'")
    add(batch_client, job, "bad", "/bin/sh -c 'echo oops >&2; exit 7'")
    ok = completed(batch_client, job, "ok")
    bad = completed(batch_client, job, "bad")
    assert (ok.execution_info.exit_code, ok.execution_info.result) == (0, "success")
    assert ok.execution_info.failure_info is None
    assert stdout(batch_client, job, "ok") == "hello ok\n"
    assert (bad.execution_info.exit_code, bad.execution_info.result) == (7, "failure")
    assert bad.execution_info.failure_info.category == "usererror"
    assert bad.execution_info.failure_info.code == "FailureExitCode"
    assert stdout(batch_client, job, "bad", "stderr.txt") == "oops\n"
    assert ok.node_info.pool_id == "pool" and ok.node_info.node_id.startswith("tvmps_")
    assert ok.previous_state == "running"
    counts = batch_client.get_job_task_counts(job)
    assert (counts.task_counts.succeeded, counts.task_counts.failed) == (1, 1)
    assert counts.task_slot_counts.completed == 2


def test_no_shell_and_missing_program(batch_client, job) -> None:
    add(batch_client, job, "literal", "/bin/echo $HOME 'a b'")
    add(batch_client, job, "missing", "no-such-program --flag")
    completed(batch_client, job, "literal")
    assert stdout(batch_client, job, "literal") == "$HOME a b\n"
    missing = completed(batch_client, job, "missing")
    assert missing.execution_info.result == "failure"
    assert missing.execution_info.exit_code is None
    assert missing.execution_info.failure_info.category == "usererror"
    assert missing.execution_info.failure_info.code == "CommandProgramNotFound"


def test_retries_until_success(batch_client, job, tmp_path) -> None:
    count = tmp_path / "count"  # outside the node: a retry may run on the other node
    script = (f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; "
              "[ $n -ge 3 ]")
    add(batch_client, job, "flaky", f"/bin/sh -c '{script}'",
        constraints=m.BatchTaskConstraints(max_task_retry_count=3))
    add(batch_client, job, "hopeless", "/bin/false",
        constraints=m.BatchTaskConstraints(max_task_retry_count=1))
    flaky = completed(batch_client, job, "flaky")
    assert flaky.execution_info.result == "success"
    assert flaky.execution_info.retry_count == 2
    assert flaky.execution_info.last_retry_time is not None
    hopeless = completed(batch_client, job, "hopeless")
    assert (hopeless.execution_info.result, hopeless.execution_info.retry_count) == ("failure", 1)


def test_wall_clock_kills_the_process_group(batch_client, job) -> None:
    started = time.monotonic()
    add(batch_client, job, "slow", "/bin/sh -c 'sleep 30 & echo $! > child; wait'",
        constraints=m.BatchTaskConstraints(max_wall_clock_time=dt.timedelta(seconds=1)))
    slow = completed(batch_client, job, "slow")
    assert time.monotonic() - started < 3
    info = slow.execution_info
    assert info.result == "failure"
    assert (info.failure_info.category, info.failure_info.code) == ("servererror", "TaskEnded")
    child = int(stdout(batch_client, job, "slow", "wd/child"))
    wait_for("the child to be gone", lambda: not alive(child), timeout=3)


def test_environment_is_batch_like_and_minimal(batch_client, job, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_BATCH_ACCESS_KEY", "secret-should-not-leak")
    add(batch_client, job, "env", "/usr/bin/env",
        environment_settings=[m.EnvironmentSetting(name="MINE", value="42")])
    completed(batch_client, job, "env")
    env = dict(line.split("=", 1) for line in stdout(batch_client, job, "env").splitlines())
    assert "AZURE_BATCH_ACCESS_KEY" not in env
    assert env["MINE"] == "42"
    assert env["AZ_BATCH_JOB_ID"] == job and env["AZ_BATCH_TASK_ID"] == "env"
    assert env["AZ_BATCH_POOL_ID"] == "pool"
    assert env["AZ_BATCH_NODE_IS_DEDICATED"] == "true"
    task_dir = Path(env["AZ_BATCH_TASK_DIR"])
    assert task_dir.parts[-4:] == ("workitems", job, "job-1", "env")
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == str(task_dir / "wd")
    root = Path(env["AZ_BATCH_NODE_ROOT_DIR"])
    assert env["AZ_BATCH_NODE_SHARED_DIR"] == str(root / "shared")
    assert env["AZ_BATCH_NODE_STARTUP_DIR"] == str(root / "startup")
    assert env["AZ_BATCH_ACCOUNT_URL"].startswith("http://127.0.0.1:")
    assert (root / "shared").is_dir() and (root / "fsmounts").is_dir()


def test_terminate_running_task_kills_it(batch_client, job) -> None:
    add(batch_client, job, "long", "/bin/sh -c 'echo $$ > pid; sleep 30'")
    state_is(batch_client, job, "long", "running")
    pid = int(wait_for("the pid file", lambda: file_text(batch_client, job, "long", "wd/pid")))
    batch_client.terminate_task(job, "long")
    done = completed(batch_client, job, "long")
    assert done.execution_info.failure_info.code == "TaskEnded"
    assert done.execution_info.result == "failure"
    assert not alive(pid)


def test_reactivate_a_failed_task(batch_client, job) -> None:
    add(batch_client, job, "once", "/bin/sh -c 'test -f again || { touch again; exit 1; }'")
    assert completed(batch_client, job, "once").execution_info.result == "failure"
    batch_client.reactivate_task(job, "once")
    wait_for("a fresh run", lambda: batch_client.get_task(job, "once").state != "completed"
             or batch_client.get_task(job, "once").execution_info.result == "success")
    again = completed(batch_client, job, "once")
    assert again.execution_info.result == "success"
    with pytest.raises(HttpResponseError):
        batch_client.reactivate_task(job, "once")


def test_filter_on_state_and_result(batch_client, job) -> None:
    for i in range(4):
        add(batch_client, job, f"t{i}", f"/bin/sh -c 'exit {i % 2}'")
    wait_for("all done", lambda: batch_client.get_job_task_counts(job).task_counts.completed == 4)
    failures = batch_client.list_tasks(job, filter="executionInfo/result eq 'failure'")
    failed = {t.id for t in failures}
    assert failed == {"t1", "t3"}
    both = {t.id for t in batch_client.list_tasks(
        job, filter="state eq 'completed' and (id eq 't0' or id eq 't1')")}
    assert both == {"t0", "t1"}
    with pytest.raises(HttpResponseError) as info:
        list(batch_client.list_tasks(job, filter="executionInfo/exitCode gt 0"))
    assert "exitCode" in str(info.value)


def test_required_slots_and_duplicates(batch_client, job) -> None:
    add(batch_client, job, "wide", "/bin/true", required_slots=2)
    assert completed(batch_client, job, "wide").execution_info.result == "success"
    with pytest.raises(HttpResponseError) as info:
        add(batch_client, job, "WIDE", "/bin/true")
    assert info.value.error.code == "TaskExists"


def test_retention_time_removes_the_task_directory(batch_client, job) -> None:
    add(batch_client, job, "brief", "/bin/echo kept for a second",
        constraints=m.BatchTaskConstraints(retention_time=dt.timedelta(seconds=1)))
    add(batch_client, job, "kept", "/bin/echo kept")
    completed(batch_client, job, "brief")
    assert stdout(batch_client, job, "brief") == "kept for a second\n"
    wait_for("the directory to go", lambda: not file_text(batch_client, job, "brief",
                                                          "stdout.txt"), timeout=5)
    completed(batch_client, job, "kept")
    assert stdout(batch_client, job, "kept") == "kept\n"
