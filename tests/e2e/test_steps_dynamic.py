"""Dynamic fan-out end to end on the local target: tasks made of the files a step produced,
added while the run watches; a failure blocks only its branch; a kill -9 mid-fan-out resumes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.e2e.conftest import batchflow, cli_env, wait_for_orphans, write_spec

SPEC = """
version: 1
name: dyn
pool: {{vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {{dedicated: 2}}, slots_per_node: 2}}
download: out/
params: {{log: {log}}}
inputs: [data/*.txt]
steps:
  split:
    for_each: input
    command: /bin/sh -c "{split}"
    outputs: ["chunk-{{input.stem}}-*"]
  count:
    for_each: {{outputs: split}}
    command: >-
      /bin/sh -c "echo start-{{task.id}} >> {{params.log}}; {count}
      wc -l < {{input.name}} > {{input.name}}.count; echo done-{{task.id}} >> {{params.log}}"
    outputs: ["{{input.name}}.count"]
  total:
    inputs: {{from: count}}
    command: /bin/sh -c "cat count/*.count | awk '{{{{s += $1}}}} END {{{{print s}}}}' > total.txt"
    outputs: [total.txt]
"""
SPLIT = "split -l 2 -d {input.name} chunk-{input.stem}-"


def _data(root: Path, lines: list[int]) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(lines):
        (root / "data" / f"f{i}.txt").write_text("".join(f"{k}\n" for k in range(n)))


def _spec(root: Path, split: str = SPLIT, count: str = "") -> Path:
    log = root / "marks.log"
    return write_spec(root, "dyn", SPEC.format(log=log, split=split, count=count))


def _marks(root: Path, kind: str) -> list[str]:
    log = root / "marks.log"
    words = log.read_text().split() if log.exists() else []
    return [w[len(kind) + 1 :] for w in words if w.startswith(kind + "-")]


def test_split_count_total_makes_one_task_per_chunk_each_run_once(tmp_path: Path) -> None:
    _data(tmp_path, [3, 4, 5])  # chunks of 2 lines: 2 + 2 + 3
    spec = _spec(tmp_path)
    plan = batchflow("plan", str(spec), cwd=tmp_path)
    assert plan.code == 0 and "dynamic" in plan.stdout, plan.stdout
    res = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "12"
    started = Counter(_marks(tmp_path, "start"))
    assert sorted(started) == [
        "count-0-0", "count-0-1", "count-1-0", "count-1-1", "count-2-0", "count-2-1", "count-2-2"
    ]  # fmt: skip
    assert set(started.values()) == {1}
    summary = res.json()
    assert summary["tasks"]["succeeded"] == 3 + 7 + 1
    steps = {s["name"]: s for s in summary["steps"]}
    assert (steps["count"]["tasks"], steps["total"]["tasks"]) == (7, 1)


def test_a_failed_upstream_task_blocks_only_its_own_branch_and_a_rerun_runs_only_it(
    tmp_path: Path,
) -> None:
    _data(tmp_path, [3, 4, 5])
    fixed = tmp_path / "fixed"
    split = f"[ {{input.stem}} != f1 ] || [ -e {fixed} ] || exit 3; {SPLIT}"
    res = batchflow("run", str(_spec(tmp_path, split=split)), "--json", cwd=tmp_path, timeout=60)
    assert res.code == 1, res.stderr
    summary = res.json()
    assert [f["id"] for f in summary["failed_tasks"]] == ["split-1"]
    assert summary["blocked_tasks"] == ["total"]  # it gathers what split-1 never made
    # the other branches ran to their end
    assert sorted(_marks(tmp_path, "done")) == [
        "count-0-0", "count-0-1", "count-2-0", "count-2-1", "count-2-2"
    ]  # fmt: skip
    # the job stays for a look: status counts its tasks, and says the spec's grow as it runs
    status = batchflow("status", str(_spec(tmp_path, split=split)), cwd=tmp_path).stdout
    assert "(spec has 3 tasks, and those of the dynamic steps count, total)" in status, status
    fixed.touch()
    res = batchflow("run", str(_spec(tmp_path, split=split)), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "12"
    started = Counter(_marks(tmp_path, "start"))
    assert len(started) == 7 and set(started.values()) == {1}, started  # f1's branch only


def test_kill_9_during_the_fan_out_then_rerun_runs_nothing_twice(tmp_path: Path) -> None:
    _data(tmp_path, [8, 8, 8])  # 12 count tasks of 0.3 s on 4 slots
    spec = _spec(tmp_path, count="sleep 0.3;")
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", spec.name],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_marks(tmp_path, "done")) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = set(_marks(tmp_path, "done"))
    assert 7 <= len(done_before) < 12, "kill when some, not all, count tasks completed"
    wait_for_orphans(tmp_path)  # the killed run's task processes finish or die
    starts_before = len(_marks(tmp_path, "start"))
    res = batchflow("run", spec.name, "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "24"
    rerun = _marks(tmp_path, "start")[starts_before:]
    # Tasks that completed are not run again; only those caught in flight by the kill (their
    # end never reached the killed run's emulator) may be: at most one per slot.
    assert len(set(rerun) & done_before) <= 4, (rerun, done_before)
    assert len(rerun) == len(set(rerun)), rerun
    assert len(set(_marks(tmp_path, "done"))) == 12
    assert res.json()["tasks"]["not_in_spec"] == []


# split logs its runs too: the cache tests count every task that ran
LOGGED_SPLIT = f"echo start-{{task.id}} >> {{params.log}}; {SPLIT}"


def test_an_unchanged_dynamic_workflow_runs_nothing_after_cleanup(tmp_path: Path) -> None:
    _data(tmp_path, [3, 4])  # split-0, split-1, count-0-0..count-1-1, total: 7 tasks
    spec = _spec(tmp_path, split=LOGGED_SPLIT)
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    # the tasks added while it ran are the spec's too
    assert "All 7 tasks succeeded" in res.stderr and "not in the spec" not in res.stderr
    first = len(_marks(tmp_path, "start"))
    assert first == 2 + 4
    res = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "nothing to do: 7 tasks up to date" in res.stderr, res.stderr
    assert res.json()["tasks"]["up_to_date"] == 7
    # each step's tasks, as a run that ran them says (a script reads the same keys)
    steps = [(s["name"], s["dynamic"], s["tasks"]) for s in res.json()["steps"]]
    assert steps == [("split", False, 2), ("count", True, 4), ("total", True, 1)]
    assert len(_marks(tmp_path, "start")) == first  # nothing ran
    (tmp_path / "out/total/total.txt").unlink()
    res = batchflow("run", str(spec), cwd=tmp_path)  # downloaded again, still nothing run
    assert res.code == 0 and "Nothing to do: 7 tasks up to date" in res.stderr, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "7"


def test_one_changed_input_reruns_only_its_chain_of_dynamic_tasks(tmp_path: Path) -> None:
    _data(tmp_path, [3, 4, 5])
    spec = _spec(tmp_path, split=LOGGED_SPLIT)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    before = len(_marks(tmp_path, "start"))
    (tmp_path / "data/f1.txt").write_text("".join(f"{k}\n" for k in range(6)))  # 3 chunks
    res = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == str(3 + 6 + 5)
    ran = sorted(_marks(tmp_path, "start")[before:])
    assert ran == ["count-1-0", "count-1-1", "count-1-2", "split-1"], ran
    # split-0, split-2 and their 2 + 3 chunks' counts were not run again; total was
    assert res.json()["tasks"]["up_to_date"] == 7
    res = batchflow("run", str(spec), cwd=tmp_path)  # what that run made is recorded too
    assert res.code == 0 and "Nothing to do: 12 tasks up to date" in res.stderr, res.stderr


def test_an_input_split_into_fewer_files_makes_no_task_of_the_old_ones(tmp_path: Path) -> None:
    """split-1 ran before with 3 chunks, now makes 1: the chunks it left last time under
    split/split-1/ are not fanned out again (no count-1-1, count-1-2)."""
    _data(tmp_path, [3, 5, 2])
    spec = _spec(tmp_path, split=LOGGED_SPLIT)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    before = len(_marks(tmp_path, "start"))
    (tmp_path / "data/f1.txt").write_text("0\n1\n")  # 1 chunk
    res = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert sorted(_marks(tmp_path, "start")[before:]) == ["count-1-0", "split-1"]
    steps = {s["name"]: s for s in res.json()["steps"]}
    assert steps["count"]["tasks"] == 2 + 1 + 1


def test_kill_9_mid_fan_out_of_a_changed_input_then_rerun_runs_nothing_twice(
    tmp_path: Path,
) -> None:
    _data(tmp_path, [4, 4, 4])
    spec = _spec(tmp_path, split=LOGGED_SPLIT, count="sleep 0.3;")
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    before, ended = len(_marks(tmp_path, "start")), len(_marks(tmp_path, "done"))
    (tmp_path / "data/f1.txt").write_text("".join(f"{k}\n" for k in range(20)))  # 10 chunks
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", spec.name],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_marks(tmp_path, "done")) < ended + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = set(_marks(tmp_path, "done")[ended:])
    assert 3 <= len(done_before) < 10, "kill when some, not all, of f1's counts ended"
    wait_for_orphans(tmp_path)  # the killed run's task processes finish or die
    starts_before = len(_marks(tmp_path, "start"))
    res = batchflow("run", spec.name, "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == str(4 + 20 + 4)
    killed = _marks(tmp_path, "start")[before:starts_before]
    rerun = _marks(tmp_path, "start")[starts_before:]
    # Neither run touched the unchanged branches; tasks that completed are not run again,
    # only those caught in flight by the kill may be (at most one per slot).
    assert all(i.startswith(("split-1", "count-1-")) for i in killed + rerun), (killed, rerun)
    assert len(set(rerun) & done_before) <= 4, (rerun, done_before)
    assert len(rerun) == len(set(rerun)), rerun
    assert len(set(_marks(tmp_path, "done")[ended:])) == 10


def test_fan_out_and_gather_on_the_azure_target_path(
    tmp_path: Path, emulator: object, azurite: str
) -> None:
    """The engine's Azure adapter against the emulator over HTTP, blobs in real Azurite:
    the fan-out lists what each split task uploaded through the SDK, the counts and the
    gather read it through a read SAS; a second machine (no local cache) finds the records
    in the output container and runs nothing."""
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.url,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCOUNT": emulator.account,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCESS_KEY": emulator.key,  # type: ignore[attr-defined]
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
    }
    _data(tmp_path, [3, 4, 5])
    spec = _spec(tmp_path, split=LOGGED_SPLIT)
    res = batchflow("run", str(spec), "--target", "azure", "--json", cwd=tmp_path, **env)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "12"
    steps = {s["name"]: s for s in res.json()["steps"]}
    assert (steps["count"]["tasks"], steps["total"]["tasks"]) == (7, 1)
    started = Counter(_marks(tmp_path, "start"))
    assert len(started) == 3 + 7 and set(started.values()) == {1}
    for secret in (emulator.key, "AccountKey", "sig="):  # type: ignore[attr-defined]
        assert secret not in res.stderr + res.stdout
    shutil.rmtree(tmp_path / ".batchflow/cache")
    res = batchflow("run", str(spec), "--target", "azure", cwd=tmp_path, **env)
    assert res.code == 0 and "Nothing to do: 11 tasks up to date" in res.stderr, res.stderr
    assert len(_marks(tmp_path, "start")) == 3 + 7


def test_a_gather_after_an_input_split_into_fewer_chunks_sees_only_this_runs_counts(
    tmp_path: Path,
) -> None:
    """count-1-1 and count-1-2 are no tasks of the second run: the files they left under
    count/ last time are gone before total gathers count/, so it adds 3 + 2 + 2, not 10."""
    _data(tmp_path, [3, 5, 2])
    spec = _spec(tmp_path)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "10"
    (tmp_path / "data/f1.txt").write_text("0\n1\n")  # 1 chunk, not 3
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "7"
    res = batchflow("run", str(spec), cwd=tmp_path)  # nothing an up-to-date task left is gone
    assert res.code == 0 and "Nothing to do: 8 tasks up to date" in res.stderr, res.stderr


def test_plan_counts_the_tasks_known_now_and_says_dynamic_steps_add_more(tmp_path: Path) -> None:
    _data(tmp_path, [3, 4])  # split-0, split-1; count and total are known only as split runs
    spec = _spec(tmp_path)
    shown = _plan_rows(tmp_path, spec)
    row = next(line for line in shown.splitlines() if "│ tasks" in line)
    assert "2 + dynamic (count, total)" in row, shown
    res = batchflow("plan", str(spec), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    plan = res.json()
    assert (plan["task_count"], plan["task_count_exact"]) == (2, False)
    assert [t["id"] for t in plan["tasks"]] == ["split-0", "split-1"]


def _plan_rows(root: Path, spec: Path) -> str:
    res = batchflow("plan", str(spec), cwd=root)
    assert res.code == 0, res.stderr
    return res.stdout


def test_plan_after_a_run_tells_what_each_dynamic_task_would_do_and_what_is_not_known_yet(
    tmp_path: Path,
) -> None:
    _data(tmp_path, [3, 4])  # split-0, split-1, count-0-0..count-1-1, total
    spec = _spec(tmp_path)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    shown = _plan_rows(tmp_path, spec)
    assert "7 up to date" in shown and "dynamic: more tasks" not in shown, shown
    res = batchflow("plan", str(spec), "--json", cwd=tmp_path)
    assert res.json()["cache"] == {"up_to_date": 7, "changed": 0, "upstream_changed": 0, "new": 0}
    # count's command changes: its 4 tasks, made of split's recorded chunks, would re-run
    changed = _spec(tmp_path, count="true;")
    shown = _plan_rows(tmp_path, changed)
    assert "2 up to date" in shown, shown
    assert "4 changed, re-run" in shown and "count-0-0, count-0-1, count-1-0, count-1-1" in shown
    assert "1 re-run, upstream changed" in shown and "total" in shown, shown
    # one input changes: split-1 re-runs, and what it will split into is not known yet
    spec = _spec(tmp_path)  # count as it ran
    (tmp_path / "data/f1.txt").write_text("0\n1\n2\n4\n5\n")
    res = batchflow("plan", str(spec), "--json", cwd=tmp_path)
    cache = res.json()["cache"]
    assert (cache["up_to_date"], cache["changed"]) == (1 + 2, 1), cache  # split-0, count-0-*
    assert cache["dynamic_pending"] == {"count": "split", "total": "count"}, cache
    shown = _plan_rows(tmp_path, spec)
    assert "count: dynamic" in shown and "more tasks appear as split runs" in shown, shown


def test_a_gathered_dynamic_wildcard_task_run_again_leaves_none_of_its_old_files(
    tmp_path: Path,
) -> None:
    """lines splits each of split's chunks into one file per line, and only total gathers
    them (so they lie flat under lines/): chunk-f1-01 shrinks from 2 lines to 1, and its
    task's old second file is no input of total."""
    spec = write_spec(
        tmp_path,
        "lines",
        """
version: 1
name: lines
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 2}, slots_per_node: 2}
download: out/
inputs: [data/*.txt]
steps:
  split:
    for_each: input
    command: split -l 2 -d {input.name} chunk-{input.stem}-
    outputs: ["chunk-{input.stem}-*"]
  lines:
    for_each: {outputs: split}
    command: split -l 1 -d {input.name} {input.name}-
    outputs: ["{input.name}-*"]
  total:
    inputs: {from: lines}
    command: /bin/sh -c "ls lines > seen.txt"
    outputs: [seen.txt]
""",
    )
    _data(tmp_path, [2, 4])
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    seen = (tmp_path / "out/total/seen.txt").read_text().split()
    assert len(seen) == 6 and "chunk-f1-01-01" in seen, seen
    (tmp_path / "data/f1.txt").write_text("0\n1\n2\n")
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    seen = (tmp_path / "out/total/seen.txt").read_text().split()
    assert seen == [
        "chunk-f0-00-00",
        "chunk-f0-00-01",
        "chunk-f1-00-00",
        "chunk-f1-00-01",
        "chunk-f1-01-00",
    ], seen
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0 and "Nothing to do: 6 tasks up to date" in res.stderr, res.stderr


def test_runs_and_status_count_the_dynamic_tasks_and_those_up_to_date(tmp_path: Path) -> None:
    """The record's total was the static tasks' alone: "6 of 2 succeeded" after a run of
    2 splits, 4 counts and a total; and an unchanged rerun read "0 of 2 succeeded"."""
    _data(tmp_path, [3, 4])  # split-0, split-1, count-0-0..count-1-1, total: 7 tasks
    spec = _spec(tmp_path)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    lines = batchflow("runs", str(spec), cwd=tmp_path).stdout.splitlines()
    assert " 7 of 7 succeeded in " in lines[0], lines
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0  # nothing to do
    lines = batchflow("runs", str(spec), cwd=tmp_path).stdout.splitlines()
    assert " 0 of 7 succeeded, 7 up to date in " in lines[0], lines
    last = batchflow("runs", str(spec), "--json", cwd=tmp_path).json()[0]
    assert (last["total"], last["up_to_date"]) == (7, 7), last
    status = batchflow("status", str(spec), cwd=tmp_path).stdout
    assert ": succeeded 0 of 7, 7 up to date at " in status, status


def test_an_optional_output_feeds_the_next_steps_only_where_a_task_made_it(
    tmp_path: Path,
) -> None:
    """``optional: true`` (README, "A spec") was refused under steps: a step that finds
    something in some inputs only fans out of what it found, and gathers see just that."""
    (tmp_path / "data").mkdir()
    for name, text in (("a", "x\nhit 1\n"), ("b", "x\n"), ("c", "hit 2\nhit 3\n")):
        (tmp_path / "data" / f"{name}.txt").write_text(text)
    spec = write_spec(
        tmp_path,
        "hits",
        """
version: 1
name: hits
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 2}}
download: out/
inputs: [data/*.txt]
steps:
  find:
    for_each: input
    command: >-
      /bin/sh -c "grep hit {input.name} > {input.stem}.hits || rm {input.stem}.hits; true"
    outputs: [{pattern: "{input.stem}.hits", optional: true}]
  count:
    for_each: {outputs: find}
    command: /bin/sh -c "wc -l < {input.name} > {input.stem}.n"
    outputs: ["{input.stem}.n"]
  total:
    inputs: {from: find, pattern: "*.hits"}
    command: /bin/sh -c "cat find/*/*.hits | wc -l > total.txt"
    outputs: [total.txt]
""",
    )
    assert batchflow("validate", str(spec), cwd=tmp_path).code == 0
    res = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    ran = sorted(r["id"] for r in res.json()["task_records"] if r["id"].startswith("count"))
    assert ran == ["count-0-0", "count-2-0"], ran
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "3"
    assert sorted(p.name for p in (tmp_path / "out/count").iterdir()) == ["a.n", "c.n"]


def _table(stderr: str) -> dict[str, list[str]]:
    """The summary's rows (plain lines off a terminal): step -> ok, cached, failed."""
    lines = stderr.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["step", "ok"])
    assert lines[head].split()[1:5] == ["ok", "failed", "blocked", "cached"], lines[head]
    rows = {}
    for line in lines[head + 1 :]:
        words = line.split()
        if len(words) < 5 or not words[1].isdigit():
            break
        rows[words[0]] = [words[1], words[4], words[2]]
    return rows


def test_the_summary_counts_each_steps_tasks_up_to_date(tmp_path: Path) -> None:
    """An unchanged rerun's table read 0 ok, 0 failed for every step, as if nothing had
    succeeded; the tasks up to date have a column of their own, dynamic ones included."""
    _data(tmp_path, [3, 4, 5])  # split 3, count 2+2+3, total 1
    spec = _spec(tmp_path)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    (tmp_path / "data/f2.txt").write_text("0\n1\n2\n")  # split-2 and its 2 counts, total
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert _table(res.stderr) == {
        "split": ["1", "2", "0"],
        "count": ["2", "4", "0"],
        "total": ["1", "0", "0"],
    }, res.stderr
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0 and "Nothing to do" in res.stderr, res.stderr
    assert _table(res.stderr) == {
        "split": ["0", "3", "0"],
        "count": ["0", "6", "0"],
        "total": ["0", "1", "0"],
    }, res.stderr
