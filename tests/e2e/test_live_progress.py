"""Seeing a workflow while it runs and when it ends: per-step counts (rich rows on a terminal,
plain lines elsewhere), ``run --events`` NDJSON on stdout, and the end-of-run summary (a rich
table on a terminal, plain lines in a log) naming the failed and the blocked tasks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import batchflow, cli_env, write_spec

# split fans out to a dynamic step (count) and a gather (total); bad fails, after waits on it.
SPEC = """
version: 1
name: live
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 2}, slots_per_node: 2}
download: out/
inputs: [data/*.txt]
steps:
  split:
    for_each: input
    command: /bin/sh -c "sleep 0.2; split -l 1 -d {input.name} part-{input.stem}-"
    outputs: ["part-{input.stem}-*"]
  count:
    for_each: {outputs: split}
    command: /bin/sh -c "wc -l < {input.name} > {input.name}.n"
    outputs: ["{input.name}.n"]
  bad: {needs: [split], command: /bin/sh -c "exit 4"}
  after: {needs: [bad], command: /bin/sh -c "echo never"}
  total:
    inputs: {from: count}
    command: /bin/sh -c "cat count/* > total.txt"
    outputs: [total.txt]
"""

BLOCKED = "blocked (never ran, waiting on failed tasks): after"
NEXT = "why bad failed: batchflow logs live.yaml bad --stderr"


def _workflow(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    for i in range(2):
        (root / "data" / f"f{i}.txt").write_text("a\nb\nc\n")
    return write_spec(root, "live", SPEC)


def test_events_stream_every_line_as_json_with_steps_tasks_and_the_summary_last(
    tmp_path: Path,
) -> None:
    _workflow(tmp_path)
    res = batchflow("run", "live.yaml", "--events", cwd=tmp_path)
    assert res.code == 1, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]  # every line parses
    kinds = {e["event"] for e in events}
    assert {"stage", "stage_done", "counts", "steps", "task", "summary"} <= kinds, kinds
    assert all(isinstance(e["t"], float | int) for e in events)
    summary = events[-1]
    assert summary["event"] == "summary" and summary["succeeded"] is False
    assert summary["blocked_tasks"] == ["after"]
    # a task event for every task that completed, with its step and exit code
    tasks = {e["id"]: e for e in events if e["event"] == "task"}
    assert len(tasks) == summary["tasks"]["completed"] == 10, sorted(tasks)
    failed = tasks["bad"]
    assert (failed["step"], failed["result"], failed["exit_code"]) == ("bad", "failure", 4)
    assert tasks["count-1-2"]["step"] == "count" and tasks["count-1-2"]["exit_code"] == 0
    # the steps' counts: the last listing's are final, the dynamic step grew to 6
    steps = [e for e in events if e["event"] == "steps"]
    assert steps[-1]["final"] and not steps[0]["final"]
    last = {s["name"]: s for s in steps[-1]["steps"]}
    count, bad, after = last["count"], last["bad"], last["after"]
    assert (count["total"], count["succeeded"], count["dynamic"]) == (6, 6, True)
    assert (bad["failed"], after["waiting"], last["total"]["succeeded"]) == (1, 1, 1)
    # the human side stays on stderr: plain step lines, and the summary naming what to do
    assert "step count: 6 succeeded, 0 failed, 0 running, 0 waiting (6 of 6 done)" in res.stderr
    assert BLOCKED in res.stderr and NEXT in res.stderr
    assert "FAILED bad: exit code 4" in res.stderr  # the failure report, off stdout


def test_events_end_with_an_end_line_when_the_run_stops_before_its_summary(
    tmp_path: Path,
) -> None:
    spec = SPEC.replace(
        "slots_per_node: 2}",
        "slots_per_node: 2, start_task: {command: /bin/sh -c 'exit 100', wait_for_success: true}}",
    )
    _workflow(tmp_path).write_text(spec)
    res = batchflow("run", "live.yaml", "--events", cwd=tmp_path)
    assert res.code == 1, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["outcome"] == "failed", events[-1]
    assert events[-1]["exit_code"] == 1 and "start task" in events[-1]["message"]


def test_events_and_json_are_refused_together(tmp_path: Path) -> None:
    _workflow(tmp_path)
    res = batchflow("run", "live.yaml", "--events", "--json", cwd=tmp_path)
    assert res.code == 2 and "--events and --json" in res.stderr, res.stderr
    assert res.stdout == ""


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_on_a_terminal_steps_get_rows_and_the_summary_is_a_table(tmp_path: Path) -> None:
    _workflow(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", _PTY_RUN],
        cwd=tmp_path,
        env=cli_env(COLUMNS="140"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    seen = _ANSI.sub("", proc.stdout)
    assert "EXIT 1" in seen, seen[-3000:]
    # the live display's last frame: a row per step under the watch bar
    assert re.search(r"  count\s+\S+\s+6/6\s+6 ok 0 failed 0 running 0 waiting", seen), seen[-4000:]
    assert re.search(r"  after\s+\S+\s+0/1\s+0 ok 0 failed 0 running 1 waiting", seen)
    # a message without counts keeps the watch bar's (it showed 0/11 here)
    assert re.search(r"watch\s+\S+\s+10/11\s+1 task cannot run", seen), seen[-4000:]
    # the summary: a table with a row per step, then what failed, what it blocked, what to run
    assert re.search(r"┃ step\s+┃ ok ┃ failed ┃ blocked ┃", seen), seen[-4000:]
    assert re.search(r"│ after\s+│\s+0 │\s+0 │\s+1 │", seen), seen[-4000:]
    assert BLOCKED in seen and NEXT in seen


_PTY_RUN = """
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.executable, [sys.executable, "-m", "batchflow", "run", "live.yaml"])
seen = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace") + f"\\nEXIT {os.waitstatus_to_exitcode(status)}\\n")
"""


def test_plain_step_lines_only_when_counts_change_and_at_most_every_interval() -> None:
    from batchflow.commands._progress import PlainView
    from batchflow.engine.events import StepCounts, StepProgress

    lines: list[str] = []
    view = PlainView(lines.append, interval=3600)

    def poll(ok: int, final: bool = False) -> None:
        view(StepProgress("watch", "steps", steps=(StepCounts("a", 4, ok),), final=final))

    poll(0)
    poll(0)  # unchanged: nothing
    poll(1)  # changed, but within the interval: nothing
    poll(4, final=True)  # the last listing's counts are always written
    assert lines == [
        "step a: 0 succeeded, 0 failed, 0 running, 4 waiting (0 of 4 done)",
        "step a: 4 succeeded, 0 failed, 0 running, 0 waiting (4 of 4 done)",
    ]
