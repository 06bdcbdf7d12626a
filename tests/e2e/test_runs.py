"""Whole runs through the CLI on the local target: resume after kill -9, faults and a lost
node, failing tasks and start tasks, hostile file names, status/logs/down."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from batchflow.emulator import DEV_ACCOUNT
from batchflow.emulator.http.control import ControlClient
from tests.e2e.conftest import batchflow, cli_env, wait_for_orphans, write_spec

TEST_KEY = base64.b64encode(b"a key the test chose, not the public dev key!!").decode()
POOL = """
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  nodes: {dedicated: 2}
  slots_per_node: 2
"""


def _sleepers(root: Path, n: int, seconds: float = 1.0) -> Path:
    """A spec of ``n`` tasks, one per input file; each appends start/done to a marker."""
    for i in range(n):
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"f{i:02d}.txt").write_text(f"payload {i}\n")
    return write_spec(
        root,
        "sleepers",
        f"""
version: 1
name: sleepers
params:
  marker: {root / "marker.log"}
{POOL}
inputs: [data/*.txt]
tasks:
  for_each: input
  id: "t-{{input.stem}}"
  command: >-
    /bin/sh -c "echo start-{{input.stem}} >> {{params.marker}}; sleep {seconds};
    cat {{input.name}} > r-{{input.stem}}.out; echo done-{{input.stem}} >> {{params.marker}}"
  outputs: ["r-{{input.stem}}.out"]
download: out/
cleanup: {{job: keep, pool: keep, inputs: keep}}
""",
    )


def _marks(root: Path, kind: str) -> list[str]:
    path = root / "marker.log"
    lines = path.read_text().split() if path.exists() else []
    return [ln.split("-", 1)[1] for ln in lines if ln.startswith(f"{kind}-")]


def test_resume_after_kill_9(tmp_path: Path) -> None:
    n, slots = 16, 4
    _sleepers(tmp_path, n)
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_marks(tmp_path, "done")) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    done_before = set(_marks(tmp_path, "done"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= len(done_before) < n, "kill when some, not all, tasks completed"
    wait_for_orphans(tmp_path)  # the killed run's task processes finish or die
    starts_before = len(_marks(tmp_path, "start"))
    res = batchflow("run", "sleepers.yaml", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    summary = res.json()
    assert summary["inputs"] == {"uploaded": 0, "uploaded_bytes": 0, "unchanged": n}
    assert summary["tasks"]["added"] + summary["tasks"]["already_present"] == n
    assert summary["tasks"]["succeeded"] == n
    rerun = _marks(tmp_path, "start")[starts_before:]
    # Completed tasks are not run again; only those caught in flight by the kill may be.
    assert len(set(rerun) & done_before) <= slots, (rerun, done_before)
    assert set(_marks(tmp_path, "done")) == {f"f{i:02d}" for i in range(n)}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"r-f{i:02d}.out" for i in range(n)
    )


def test_faults_and_lost_node_through_the_cli(tmp_path: Path) -> None:
    n = 12
    _sleepers(tmp_path, n, seconds=0.5)
    env = cli_env(
        BATCHFLOW_EMULATOR_FAULTS='{"errorRate": 0.1, "status": 503}',
        BATCHFLOW_EMULATOR_KEY=TEST_KEY,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", banner)
    assert url, banner
    rest: list[str] = []
    drain = threading.Thread(target=lambda: rest.extend(proc.stderr))  # type: ignore[arg-type]
    drain.start()
    deadline = time.monotonic() + 60
    while not _marks(tmp_path, "start") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    lost = ControlClient(url.group(0), DEV_ACCOUNT, TEST_KEY).lose_node("sleepers-pool")
    proc.wait(timeout=120)
    drain.join()
    assert proc.returncode == 0, "".join(rest)
    assert lost
    assert set(_marks(tmp_path, "done")) == {f"f{i:02d}" for i in range(n)}
    assert len(list((tmp_path / "out").iterdir())) == n


def test_failing_task_exits_1_with_a_report(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "fails",
        f"""
version: 1
name: fails
{POOL}
tasks:
  list:
    - id: fine
      command: /bin/sh -c "echo ok"
    - id: broken
      command: /bin/sh -c "echo preparing >&2; echo disk on fire >&2; exit 42"
""",
    )
    res = batchflow("run", "fails.yaml", cwd=tmp_path)
    assert res.code == 1, res.stderr
    assert "broken" in res.stdout and "exit code 42" in res.stdout
    assert "disk on fire" in res.stdout
    assert "1 of 2 tasks failed" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_rerun_retries_the_tasks_that_failed(tmp_path: Path) -> None:
    # The flaky task fails while the flag file is missing: a user fixes the cause and runs
    # again; only the failed task (and what depends on it) runs again.
    flag, marker = tmp_path / "fixed.flag", tmp_path / "marker.log"
    write_spec(
        tmp_path,
        "flaky",
        f"""
version: 1
name: flaky
{POOL}
tasks:
  list:
    - id: fine
      command: /bin/sh -c "echo fine >> {marker}"
    - id: flaky
      command: /bin/sh -c "echo flaky >> {marker}; test -f {flag}"
    - id: after
      depends_on: [flaky]
      command: /bin/sh -c "echo after >> {marker}"
cleanup: {{job: keep, pool: keep, inputs: keep}}
""",
    )
    # The dependent task can never run while `flaky` has failed: the run must end (it used
    # to wait for it for ever) and say why.
    first = batchflow("run", "flaky.yaml", cwd=tmp_path)
    assert first.code == 1, first.stderr
    assert "1 task cannot run: waiting on failed tasks" in first.stderr
    assert sorted(marker.read_text().split()) == ["fine", "flaky"]
    flag.touch()
    second = batchflow("run", "flaky.yaml", cwd=tmp_path)
    assert second.code == 0, second.stderr
    assert "1 task failed in the last run: running it again" in second.stderr
    assert sorted(marker.read_text().split()) == ["after", "fine", "flaky", "flaky"]


def test_failing_start_task_ends_the_run_quickly(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "nostart",
        """
version: 1
name: nostart
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  nodes: {dedicated: 1}
  start_task:
    command: '/bin/sh -c "echo E: Unable to locate package ffmpeg >&2; exit 100"'
    wait_for_success: true
tasks:
  list:
    - id: never
      command: /bin/true
""",
    )
    t0 = time.monotonic()
    res = batchflow("run", "nostart.yaml", cwd=tmp_path)
    assert time.monotonic() - t0 < 20
    assert res.code == 1
    assert "start task failed" in res.stderr
    assert "Unable to locate package ffmpeg" in res.stderr


@pytest.mark.parametrize("storage", ["local", "azurite"])
def test_hostile_input_names_stay_inert(
    tmp_path: Path, storage: str, request: pytest.FixtureRequest
) -> None:
    env = (
        {"AZURE_STORAGE_CONNECTION_STRING": request.getfixturevalue("azurite")}
        if storage == "azurite"
        else {}
    )
    (tmp_path / "in").mkdir()
    names = ["a b;rm -rf ~.txt", "$(touch pwned).txt", "`touch pwned2`.txt"]
    for name in names:
        (tmp_path / "in" / name).write_text(f"contents of {name}\n")
    write_spec(
        tmp_path,
        "hostile",
        f"""
version: 1
name: hostile
{POOL}
inputs: [in/*.txt]
tasks:
  for_each: input
  id: "h{{index}}"
  command: /bin/sh -c "cp {{input.name}} copy-{{input.name}}"
  outputs: ["copy-{{input.name}}"]
  print_stdout: true
download: out/
""",
    )
    res = batchflow("run", "hostile.yaml", cwd=tmp_path, **env)
    assert res.code == 0, res.stderr + res.stdout
    for name in names:
        assert (tmp_path / "out" / f"copy-{name}").read_text() == f"contents of {name}\n"
    assert not list(tmp_path.rglob("pwned*"))
    assert (Path.home()).exists()


def test_status_logs_and_down(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=0)
    assert batchflow("run", "sleepers.yaml", "--keep", cwd=tmp_path).code == 0
    status = batchflow("status", "sleepers.yaml", "--json", cwd=tmp_path)
    assert status.code == 0, status.stderr
    report = status.json()
    assert report["job"]["id"] == "sleepers-job" and report["tasks"]["succeeded"] == 2
    logs = batchflow("logs", "sleepers.yaml", "t-f00", "--stderr", cwd=tmp_path)
    assert logs.code == 0 and logs.stdout == ""
    missing = batchflow("logs", "sleepers.yaml", "no-such-task", cwd=tmp_path)
    assert missing.code == 2, missing.stderr
    assert missing.stderr == "error: no task no-such-task in job sleepers-job\n"  # no SDK noise
    refused = batchflow("down", "sleepers.yaml", cwd=tmp_path)
    assert refused.code == 2 and "--yes" in refused.stderr
    assert (tmp_path / ".batchflow").is_dir()
    down = batchflow("down", "sleepers.yaml", "--yes", cwd=tmp_path)
    assert down.code == 0, down.stderr
    assert not (tmp_path / ".batchflow").exists()
