"""Tasks run as real processes through the real SDK: exit codes, stdout, retries, wall clock,
launch failures, environment, terminate, reactivate, $filter."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from batchflow.emulator.server import EmulatorServer
from tests.emulator.core_helpers import (
    add,
    alive,
    completed,
    error_code,
    failure,
    file_text,
    info,
    make_job,
    make_pool,
    node_of,
    state_is,
    stdout,
    wait_for,
)


@pytest.fixture()
def job(batch_client: BatchClient) -> str:
    make_pool(batch_client, "pool", nodes=2, slots=2)
    make_job(batch_client, "job", "pool")
    return "job"


def test_success_and_failure_with_exit_codes_and_stdout(
    batch_client: BatchClient,
    job: str,
) -> None:
    add(batch_client, job, "ok", "/bin/sh -c 'echo hello $AZ_BATCH_TASK_ID'")
    add(batch_client, job, "bad", "/bin/sh -c 'echo oops >&2; exit 7'")
    ok = completed(batch_client, job, "ok")
    bad = completed(batch_client, job, "bad")
    assert (info(ok).exit_code, info(ok).result) == (0, "success")
    assert info(ok).failure_info is None
    assert stdout(batch_client, job, "ok") == "hello ok\n"
    assert (info(bad).exit_code, info(bad).result) == (7, "failure")
    assert failure(bad).category == "usererror"
    assert failure(bad).code == "FailureExitCode"
    assert stdout(batch_client, job, "bad", "stderr.txt") == "oops\n"
    assert node_of(ok).pool_id == "pool" and str(node_of(ok).node_id).startswith("tvmps_")
    assert ok.previous_state == "running"
    counts = batch_client.get_job_task_counts(job)
    assert (counts.task_counts.succeeded, counts.task_counts.failed) == (1, 1)
    assert counts.task_slot_counts.completed == 2


def test_no_shell_and_missing_program(batch_client: BatchClient, job: str) -> None:
    add(batch_client, job, "literal", "/bin/echo $HOME 'a b'")
    add(batch_client, job, "missing", "no-such-program --flag")
    completed(batch_client, job, "literal")
    assert stdout(batch_client, job, "literal") == "$HOME a b\n"
    missing = completed(batch_client, job, "missing")
    assert info(missing).result == "failure"
    assert info(missing).exit_code is None
    assert failure(missing).category == "usererror"
    assert failure(missing).code == "CommandProgramNotFound"


def test_retries_until_success(batch_client: BatchClient, job: str, tmp_path: Path) -> None:
    count = tmp_path / "count"  # outside the node: a retry may run on the other node
    script = f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; [ $n -ge 3 ]"
    add(
        batch_client,
        job,
        "flaky",
        f"/bin/sh -c '{script}'",
        constraints=m.BatchTaskConstraints(max_task_retry_count=3),
    )
    add(
        batch_client,
        job,
        "hopeless",
        "/bin/false",
        constraints=m.BatchTaskConstraints(max_task_retry_count=1),
    )
    flaky = completed(batch_client, job, "flaky")
    assert info(flaky).result == "success"
    assert info(flaky).retry_count == 2
    assert info(flaky).last_retry_time is not None
    hopeless = completed(batch_client, job, "hopeless")
    assert (info(hopeless).result, info(hopeless).retry_count) == ("failure", 1)


def test_wall_clock_kills_the_process_group(batch_client: BatchClient, job: str) -> None:
    started = time.monotonic()
    add(
        batch_client,
        job,
        "slow",
        "/bin/sh -c 'sleep 30 & echo $! > child; wait'",
        constraints=m.BatchTaskConstraints(max_wall_clock_time=dt.timedelta(seconds=1)),
    )
    slow = completed(batch_client, job, "slow")
    assert time.monotonic() - started < 3
    assert info(slow).result == "failure"
    assert (failure(slow).category, failure(slow).code) == ("servererror", "TaskEnded")
    child = int(stdout(batch_client, job, "slow", "wd/child"))
    wait_for("the child to be gone", lambda: not alive(child), timeout=3)


def test_environment_is_batch_like_and_minimal(
    batch_client: BatchClient,
    job: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_BATCH_ACCESS_KEY", "secret-should-not-leak")
    add(
        batch_client,
        job,
        "env",
        "/usr/bin/env",
        environment_settings=[m.EnvironmentSetting(name="MINE", value="42")],
    )
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


def test_terminate_running_task_kills_it(batch_client: BatchClient, job: str) -> None:
    add(batch_client, job, "long", "/bin/sh -c 'echo $$ > pid; sleep 30'")
    state_is(batch_client, job, "long", "running")
    pid = int(wait_for("the pid file", lambda: file_text(batch_client, job, "long", "wd/pid")))
    batch_client.terminate_task(job, "long")
    done = completed(batch_client, job, "long")
    assert failure(done).code == "TaskEnded"
    assert info(done).result == "failure"
    assert not alive(pid)


def test_a_task_deleted_and_added_again_keeps_its_new_directory(
    batch_client: BatchClient, job: str
) -> None:
    # batchflow re-runs a changed task by deleting it and adding it again under the same id:
    # the old attempt's clean-up must never remove the new attempt's directory.
    # The first attempt ignores SIGTERM, so it outlives the delete by the kill's grace time.
    add(batch_client, job, "again", "/bin/sh -c 'trap \"\" TERM; echo $$ > pid; sleep 30'")
    state_is(batch_client, job, "again", "running")
    pid = int(wait_for("the pid file", lambda: file_text(batch_client, job, "again", "wd/pid")))
    batch_client.delete_task(job, "again")
    add(batch_client, job, "again", "/bin/sh -c 'echo second'")
    completed(batch_client, job, "again")
    time.sleep(1.0)  # give a late clean-up of the first attempt its chance to do harm
    assert stdout(batch_client, job, "again") == "second\n"
    assert not alive(pid)


def test_reactivate_a_failed_task(batch_client: BatchClient, job: str) -> None:
    add(batch_client, job, "once", "/bin/sh -c 'test -f again || { touch again; exit 1; }'")
    assert info(completed(batch_client, job, "once")).result == "failure"
    batch_client.reactivate_task(job, "once")
    wait_for(
        "a fresh run",
        lambda: (
            batch_client.get_task(job, "once").state != "completed"
            or info(batch_client.get_task(job, "once")).result == "success"
        ),
    )
    again = completed(batch_client, job, "once")
    assert info(again).result == "success"
    with pytest.raises(HttpResponseError):
        batch_client.reactivate_task(job, "once")


def test_filter_on_state_and_result(batch_client: BatchClient, job: str) -> None:
    for i in range(4):
        add(batch_client, job, f"t{i}", f"/bin/sh -c 'exit {i % 2}'")
    wait_for("all done", lambda: batch_client.get_job_task_counts(job).task_counts.completed == 4)
    failures = batch_client.list_tasks(job, filter="executionInfo/result eq 'failure'")
    failed = {t.id for t in failures}
    assert failed == {"t1", "t3"}
    both = {
        t.id
        for t in batch_client.list_tasks(
            job, filter="state eq 'completed' and (id eq 't0' or id eq 't1')"
        )
    }
    assert both == {"t0", "t1"}
    with pytest.raises(HttpResponseError) as caught:
        list(batch_client.list_tasks(job, filter="executionInfo/exitCode gt 0"))
    assert "exitCode" in str(caught.value)


def test_filter_on_state_transition_time(batch_client: BatchClient, job: str) -> None:
    # The run recorder lists the tasks completed since a time the service gave, written as
    # the service documents it: DateTime'<.NET round-trip form>'.
    add(batch_client, job, "first", "/bin/true")
    first = completed(batch_client, job, "first").state_transition_time
    time.sleep(0.05)
    add(batch_client, job, "second", "/bin/true")
    second = completed(batch_client, job, "second").state_transition_time
    assert first is not None and second is not None and first < second

    def since(op: str, when: dt.datetime) -> set[str]:
        stamp = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        text = f"state eq 'completed' and stateTransitionTime {op} DateTime'{stamp}'"
        return {t.id for t in batch_client.list_tasks(job, filter=text)}

    assert since("ge", first) == {"first", "second"}
    assert since("gt", first) == {"second"}
    assert since("ge", second + dt.timedelta(microseconds=1)) == set()


def test_required_slots_and_duplicates(batch_client: BatchClient, job: str) -> None:
    add(batch_client, job, "wide", "/bin/true", required_slots=2)
    assert info(completed(batch_client, job, "wide")).result == "success"
    with pytest.raises(HttpResponseError) as caught:
        add(batch_client, job, "WIDE", "/bin/true")
    assert error_code(caught) == "TaskExists"


def test_retention_time_removes_the_task_directory(batch_client: BatchClient, job: str) -> None:
    add(
        batch_client,
        job,
        "brief",
        "/bin/echo kept for a second",
        constraints=m.BatchTaskConstraints(retention_time=dt.timedelta(seconds=2)),
    )
    add(batch_client, job, "kept", "/bin/echo kept")
    completed(batch_client, job, "brief")
    assert stdout(batch_client, job, "brief") == "kept for a second\n"
    wait_for(
        "the directory to go",
        lambda: not file_text(batch_client, job, "brief", "stdout.txt"),
        timeout=8,
    )
    completed(batch_client, job, "kept")
    assert stdout(batch_client, job, "kept") == "kept\n"


def test_a_task_directory_that_cannot_be_created_fails_the_task(
    emulator: EmulatorServer, batch_client: BatchClient, job: str
) -> None:
    # A file where the job's work-item directory belongs: no task directory can go below it.
    for node in batch_client.list_nodes("pool"):
        blocker = emulator.data_dir / "nodes" / "pool" / node.id / "workitems" / job
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("not a directory")
    add(batch_client, job, "t", "/bin/true")
    task = completed(batch_client, job, "t")
    assert info(task).result == "failure"
    assert (failure(task).category, failure(task).code) == (
        "usererror",
        "ResourceDirectoryCreateFailed",
    )
    assert "could not be created" in (failure(task).message or "")
