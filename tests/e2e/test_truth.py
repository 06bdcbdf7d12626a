"""What the user gets back is the truth: task output byte for byte, missing outputs, counts
that add up, what cleanup kept, pools left allocated, file modes, commands that need names
rather than inputs, orphans after kill -9, and progress under --json."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import batchflow, cli_env, write_spec
from tests.e2e.test_runs import POOL, _marks, _sleepers

KEY = base64.b64encode(b"the key this test chose for its emulator").decode()
LOOKS_SECRET = (
    'TOKEN:\npage 2 of 5\nCACHE_KEY: v1\n"primary_key": "user_id"\nBearer of bad news\n'
    "sig=abc&x=1\n"
)


def _printer(root: Path, lines: str) -> Path:
    """One task that prints ``lines`` (via a file: no shell quoting in the way)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "text.txt").write_text(lines)
    return write_spec(
        root,
        "printer",
        f"""
version: 1
name: printer
{POOL}
inputs: [data/text.txt]
tasks:
  for_each: input
  id: show
  command: /bin/cat {{input.name}}
  print_stdout: true
cleanup: {{job: keep, pool: keep, inputs: keep}}
""",
    )


def test_task_output_is_shown_byte_for_byte(tmp_path: Path) -> None:
    _printer(tmp_path, LOOKS_SECRET)
    run = batchflow("run", "printer.yaml", cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert LOOKS_SECRET.rstrip("\n") in run.stdout
    logs = batchflow("logs", "printer.yaml", "show", cwd=tmp_path)
    assert logs.code == 0, logs.stderr
    assert logs.stdout == LOOKS_SECRET


def test_secrets_batchflow_holds_are_redacted_from_task_output(tmp_path: Path) -> None:
    _printer(tmp_path, f"the key is {KEY} and\nnothing else\n")
    run = batchflow("run", "printer.yaml", cwd=tmp_path, BATCHFLOW_EMULATOR_KEY=KEY)
    assert run.code == 0, run.stderr
    assert KEY not in run.stdout + run.stderr
    assert "the key is REDACTED and" in run.stdout
    logs = batchflow("logs", "printer.yaml", "show", cwd=tmp_path, BATCHFLOW_EMULATOR_KEY=KEY)
    assert logs.stdout == "the key is REDACTED and\nnothing else\n", logs.stderr


def _outputs_spec(root: Path, outputs: str) -> None:
    write_spec(
        root,
        "outs",
        f"""
version: 1
name: outs
{POOL}
tasks:
  list:
    - id: a
      command: /bin/sh -c "echo a > a.txt"
    - id: b
      command: /bin/sh -c "echo b > b.txt"
  outputs: {outputs}
download: out/
""",
    )


def test_a_declared_output_that_matched_nothing_fails_the_run(tmp_path: Path) -> None:
    _outputs_spec(tmp_path, '["{task.id}.txt", "{task.id}.typo"]')
    res = batchflow("run", "outs.yaml", cwd=tmp_path)
    assert res.code == 1, res.stderr
    assert "task a: output 'a.typo' matched no file" in res.stderr
    assert "task b: output 'b.typo' matched no file" in res.stderr
    assert "succeeded" not in res.stderr.splitlines()[-1]
    assert (tmp_path / "out" / "a.txt").read_text() == "a\n"  # what did match still lands


def test_an_optional_output_may_match_nothing(tmp_path: Path) -> None:
    _outputs_spec(tmp_path, '["{task.id}.txt", {pattern: "{task.id}.log", optional: true}]')
    res = batchflow("run", "outs.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "All 2 tasks succeeded" in res.stderr


def test_counts_add_up_and_blocked_tasks_are_named(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "blocked",
        f"""
version: 1
name: blocked
{POOL}
tasks:
  list:
    - id: broken
      command: /bin/sh -c "exit 3"
    - id: after
      depends_on: [broken]
      command: /bin/true
  final:
    id: merge
    command: /bin/true
""",
    )
    res = batchflow("run", "blocked.yaml", cwd=tmp_path)
    assert res.code == 1, res.stderr
    assert "1 of 3 tasks failed" in res.stderr
    assert "after" in res.stderr and "merge" in res.stderr  # the blocked ones, by name
    assert "1 tasks" not in res.stderr + res.stdout


def test_stale_tasks_are_counted_and_reported(tmp_path: Path) -> None:
    spec = _sleepers(tmp_path, 3, seconds=0)
    assert batchflow("run", "sleepers.yaml", cwd=tmp_path).code == 0
    (tmp_path / "data" / "f02.txt").unlink()
    (tmp_path / "data" / "f03.txt").write_text("new\n")
    res = batchflow("run", spec.name, cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "adding 1" in res.stderr, res.stderr
    assert "added 1 task" in res.stderr
    assert "1 task in the job is not in the spec (t-f02)" in res.stderr, res.stderr
    for line in res.stderr.splitlines():
        if " of " in line and "done)" in line:
            done, total = line.rsplit("(", 1)[1].split(" done")[0].split(" of ")
            assert int(done) <= int(total), line


def _failing_spec(root: Path, cleanup: str) -> None:
    """``fails.yaml``: one task that exits 3, with the given ``cleanup`` section."""
    write_spec(
        root,
        "fails",
        f"""
version: 1
name: fails
{POOL}
tasks:
  list:
    - id: broken
      command: /bin/sh -c "exit 3"
cleanup: {cleanup}
""",
    )


def test_cleanup_says_what_it_kept_and_why(tmp_path: Path) -> None:
    _failing_spec(tmp_path, "{job: delete, pool: delete, inputs: keep}")
    res = batchflow("run", "fails.yaml", cwd=tmp_path)
    assert res.code == 1
    assert "cleanup: done" not in res.stderr
    assert "kept job fails-job and pool fails-pool" in res.stderr, res.stderr
    assert "1 task failed" in res.stderr


def test_a_run_that_leaves_the_pool_allocated_says_so_last(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)  # cleanup keeps the pool
    res = batchflow("run", "sleepers.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    last = res.stderr.splitlines()[-1]
    assert "Pool sleepers-pool" in last and "2 nodes" in last, last
    assert "batchflow down sleepers.yaml" in last


def test_a_failed_run_that_keeps_the_pool_says_so_last(tmp_path: Path) -> None:
    _failing_spec(tmp_path, "{job: delete, pool: delete}")
    res = batchflow("run", "fails.yaml", cwd=tmp_path)
    assert res.code == 1
    last = res.stderr.splitlines()[-1]
    assert "Pool fails-pool" in last and "batchflow down fails.yaml" in last, res.stderr


def test_downloads_follow_the_umask(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    old = os.umask(0o022)
    try:
        res = batchflow("run", "sleepers.yaml", cwd=tmp_path)
    finally:
        os.umask(old)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out" / "r-f00.out").stat().st_mode & 0o777 == 0o644


def test_partial_downloads_left_by_a_kill_are_swept(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    (tmp_path / "out").mkdir()
    left = tmp_path / "out" / ".r-f00.outab12cd.batchflow-partial"
    left.write_text("half")
    res = batchflow("run", "sleepers.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert not left.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r-f00.out"]


def test_down_status_logs_need_names_not_inputs(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=0)
    assert batchflow("run", "sleepers.yaml", cwd=tmp_path).code == 0
    for f in (tmp_path / "data").iterdir():
        f.unlink()
    status = batchflow("status", "sleepers.yaml", cwd=tmp_path)
    assert status.code == 0, status.stderr
    assert "pool sleepers-pool" in status.stdout
    logs = batchflow("logs", "sleepers.yaml", "t-f00", cwd=tmp_path)
    assert logs.code == 0, logs.stderr
    down = batchflow("down", "sleepers.yaml", "--yes", cwd=tmp_path)
    assert down.code == 0, down.stderr
    assert "Deleted job sleepers-job, pool sleepers-pool" in down.stderr


def test_down_prompt_names_the_local_state(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=0)
    assert batchflow("run", "sleepers.yaml", cwd=tmp_path).code == 0
    proc = subprocess.run(
        [sys.executable, "-c", _PTY_DOWN],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ".batchflow" in proc.stdout, proc.stdout + proc.stderr


_PTY_DOWN = """
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.executable, [sys.executable, "-m", "batchflow", "down", "sleepers.yaml"])
seen = b""
while b"[y/N]" not in seen:
    chunk = os.read(fd, 4096)
    if not chunk:
        break
    seen += chunk
os.write(fd, b"n\\n")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
os.waitpid(pid, 0)
sys.stdout.write(seen.decode())
"""


def _kill_9_mid_run(root: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "sleepers.yaml"],
        cwd=root,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _marks(root, "start") and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _marks(root, "start"), "no task started"


# An orphan sleeps this long (a value no other process uses): if the command did not stop it,
# it is still there when the test looks, however slow a loaded machine makes the command.
ORPHAN_SLEEP = "47.25"


def _orphans_left(grace: float = 5.0) -> list[int]:
    """Pids of orphaned task processes (``sleep ORPHAN_SLEEP``) still alive after ``grace``."""
    deadline = time.monotonic() + grace
    while True:
        left = []
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if proc.name.isdigit() and argv[:2] == [b"sleep", ORPHAN_SLEEP.encode()]:
                left.append(int(proc.name))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_status_after_kill_9_stops_the_orphans(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=float(ORPHAN_SLEEP))
    _kill_9_mid_run(tmp_path)
    status = batchflow("status", "sleepers.yaml", "--json", cwd=tmp_path)
    assert status.code == 0, status.stderr
    assert status.json()["tasks"]["running"] == 0
    assert not _orphans_left(), "the orphaned task ran on after status"
    assert not _marks(tmp_path, "done")


def test_down_after_kill_9_stops_the_orphans(tmp_path: Path) -> None:
    _sleepers(tmp_path, 1, seconds=float(ORPHAN_SLEEP))
    _kill_9_mid_run(tmp_path)
    down = batchflow("down", "sleepers.yaml", "--yes", cwd=tmp_path)
    assert down.code == 0, down.stderr
    assert not _orphans_left(), "the orphaned task ran on after down"
    assert not _marks(tmp_path, "done")


def test_run_json_shows_progress_on_stderr(tmp_path: Path) -> None:
    _sleepers(tmp_path, 2, seconds=0)
    res = batchflow("run", "sleepers.yaml", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["succeeded"] is True
    assert "watch: " in res.stderr and "tasks: " in res.stderr, res.stderr


def test_the_watch_bar_is_not_filled_for_tasks_that_never_ran() -> None:
    from batchflow.commands._progress import _RichView
    from batchflow.engine.events import Event, WatchProgress

    view = _RichView()
    view(WatchProgress("watch", "running", 1, 3, succeeded=0, failed=1, running=0, active=2))
    view(Event("watch", "done"))
    view(Event("job", "done"))
    bars = {t.fields["stage"]: t for t in view.progress.tasks}
    assert (bars["watch"].completed, bars["watch"].total) == (1, 3)
    assert bars["job"].completed == bars["job"].total  # a stage without counts: all done
