"""Workflows of steps run end to end on the local target: a streaming chain into a gather,
a diamond, and a failure that blocks only its own branch."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import batchflow, write_spec

HEAD = """
version: 1
name: steps
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 2}, slots_per_node: 2}
download: out/
"""


def _files(root: Path, n: int) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / "data" / f"f{i}.txt").write_text("x" * (i + 1) + "\n")


def _outputs(root: Path) -> list[str]:
    return sorted(p.relative_to(root / "out").as_posix() for p in (root / "out").rglob("*.*"))


def test_a_chain_streams_into_a_gather_and_only_its_result_is_downloaded(
    tmp_path: Path,
) -> None:
    _files(tmp_path, 3)
    log = tmp_path / "marker.log"
    spec = write_spec(
        tmp_path,
        "chain",
        HEAD
        + f"""
params: {{log: {log}}}
inputs: [data/*.txt]
steps:
  slow:
    for_each: input
    # f0 ends at once, f1 after a while: its chained task must not wait for f1
    command: >-
      /bin/sh -c "[ {{input.stem}} = f0 ] || sleep 1.5; wc -c < {{input.name}} > {{input.stem}}.n;
      echo done-{{task.id}} >> {{params.log}}"
    outputs: ["{{input.stem}}.n"]
  double:
    for_each: {{outputs: slow}}
    command: >-
      /bin/sh -c "echo start-{{task.id}} >> {{params.log}};
      n=$(cat {{input.name}}); echo $((n * 2)) > {{input.stem}}.d"
    outputs: ["{{input.stem}}.d"]
  total:
    inputs: {{from: double}}
    command: >-
      /bin/sh -c "ls double > seen.txt; t=0; for f in double/*.d; do t=$((t + $(cat $f))); done;
      echo $t > total.txt"
    outputs: [total.txt, seen.txt]
""",
    )
    result = batchflow("run", str(spec), cwd=tmp_path)
    assert result.code == 0, result.stderr
    marks = log.read_text().split()
    assert marks.index("start-double-0") < marks.index("done-slow-1"), marks
    # the gather saw every upstream output in its working directory
    assert (tmp_path / "out/total/seen.txt").read_text().split() == ["f0.d", "f1.d", "f2.d"]
    assert (tmp_path / "out/total/total.txt").read_text().strip() == str(2 * (2 + 3 + 4))
    assert _outputs(tmp_path) == ["total/seen.txt", "total/total.txt"]


DIAMOND = """
steps:
  top: {command: /bin/sh -c "echo top > t.txt", outputs: [t.txt]}
  left:
    inputs: {from: top}
    command: /bin/sh -c "%s"
    outputs: [l.txt]
  right:
    inputs: {from: top}
    command: /bin/sh -c "cat top/t.txt > r.txt; echo right >> r.txt"
    outputs: [r.txt]
  join:
    inputs: {from: [left, right]}
    command: /bin/sh -c "cat left/l.txt right/r.txt > j.txt"
    outputs: [j.txt]
  after_right: {needs: [right], command: /bin/sh -c "echo ok > a.txt", outputs: [a.txt]}
"""


def test_a_diamond_joins_both_branches(tmp_path: Path) -> None:
    left = "cat top/t.txt > l.txt; echo left >> l.txt"
    spec = write_spec(tmp_path, "diamond", HEAD + DIAMOND % left)
    result = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    # each step's tasks in --json, with no dynamic step too (and when nothing runs)
    expected = [(s, False, 1) for s in ("top", "left", "right", "join", "after_right")]
    assert [(s["name"], s["dynamic"], s["tasks"]) for s in result.json()["steps"]] == expected
    again = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert again.code == 0 and again.json()["tasks"]["up_to_date"] == 5, again.stderr
    assert [(s["name"], s["dynamic"], s["tasks"]) for s in again.json()["steps"]] == expected
    joined = (tmp_path / "out/join/j.txt").read_text().split()
    assert joined == ["top", "left", "top", "right"]
    assert _outputs(tmp_path) == ["after_right/a.txt", "join/j.txt"]


def test_a_failed_task_blocks_only_what_depends_on_it(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "diamond", HEAD + DIAMOND % "exit 3")
    result = batchflow("run", str(spec), cwd=tmp_path, timeout=60)
    assert result.code == 1, result.stderr
    assert "left" in result.stderr + result.stdout
    assert "cannot run" in result.stderr + result.stdout  # join waits on left: blocked
    # the other branch ran to its end and its result was downloaded
    assert _outputs(tmp_path) == ["after_right/a.txt"]


FINAL = """
tasks:
  list:
    - {id: part1, command: /bin/sh -c "echo one > part1.out"}
    - {id: part2, command: /bin/sh -c "echo two > part2.out"}
    - {id: sub, command: /bin/sh -c "mkdir -p d && echo three > d/x.log", outputs: ["d/*.log"]}
  outputs: ["{task.id}.out"]
  final:
    command: /bin/sh -c "cat part1.out part2.out x.log > merged.txt"
    outputs: [merged.txt]
"""


def test_final_gathers_every_output_of_the_tasks_flat_map_then_merge(tmp_path: Path) -> None:
    """``final:`` is a gather step over ``tasks:``: each task's outputs land in the final
    task's working directory by their names, so ``cat part1.out part2.out`` works; its own
    id and what is downloaded stay as they were."""
    spec = write_spec(tmp_path, "merge", HEAD + FINAL)
    result = batchflow("run", str(spec), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert (tmp_path / "out/merged.txt").read_text().split() == ["one", "two", "three"]
    records = {r["id"]: r for r in result.json()["task_records"]}
    assert records["final"]["result"] == "success"


def test_final_gathers_on_the_azure_target_path(
    tmp_path: Path, emulator: object, azurite: str
) -> None:
    """The same through the engine's Azure adapter and real Azurite: one blob by its URL
    (read SAS), the wildcard's by a container listing."""
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.url,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCOUNT": emulator.account,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCESS_KEY": emulator.key,  # type: ignore[attr-defined]
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
    }
    # Azurite lives for the session: containers of their own (examples/steps.yaml is "steps")
    head = HEAD.replace("name: steps", "name: azmerge")
    spec = write_spec(tmp_path, "merge", head + FINAL)
    result = batchflow("run", str(spec), "--target", "azure", cwd=tmp_path, **env)
    assert result.code == 0, result.stderr
    assert (tmp_path / "out/merged.txt").read_text().split() == ["one", "two", "three"]


def test_a_failed_branch_of_a_diamond_names_what_it_blocked_per_step(tmp_path: Path) -> None:
    """left fails: join (which gathers from it) and report (which needs join) never run,
    right and after_right run to their end; the summary and --json name the blocked tasks
    step by step."""
    body = HEAD + DIAMOND % "exit 3"
    body += '  report: {needs: [join], command: /bin/sh -c "echo r > r2.txt", outputs: [r2.txt]}\n'
    spec = write_spec(tmp_path, "diamond", body)
    result = batchflow("run", str(spec), "--json", cwd=tmp_path, timeout=60)
    assert result.code == 1, result.stderr
    summary = result.json()
    assert [f["id"] for f in summary["failed_tasks"]] == ["left"]
    assert summary["blocked_by_step"] == {"join": ["join"], "report": ["report"]}
    ran = {r["id"]: r["result"] for r in summary["task_records"]}
    assert ran == {
        "top": "success",
        "left": "failure",
        "right": "success",
        "after_right": "success",
    }
    assert _outputs(tmp_path) == ["after_right/a.txt"]
    result = batchflow("run", str(spec), cwd=tmp_path, timeout=60)  # the summary, as text
    assert result.code == 1, result.stderr
    assert "blocked (never ran, waiting on failed tasks): join, report" in result.stderr
    assert "  in step join: join\n" in result.stderr
    assert "  in step report: report\n" in result.stderr


def test_a_gather_no_longer_sees_the_output_of_an_input_removed_since_the_last_run(
    tmp_path: Path,
) -> None:
    """size names its files in full, parts by a wildcard (and keeps a log on failure): a
    gather of both sees neither file of f1 once f1 is no input."""
    _files(tmp_path, 3)
    spec = write_spec(
        tmp_path,
        "removed",
        HEAD
        + """
inputs: [data/*.txt]
steps:
  size:
    for_each: input
    command: /bin/sh -c "wc -c < {input.name} > {input.stem}.n"
    outputs: ["{input.stem}.n"]
  parts:
    for_each: input
    command: /bin/sh -c "cp {input.name} {input.stem}-a.part"
    outputs: ["{input.stem}-*.part", {pattern: "{input.stem}.log", when: failure}]
  total:
    inputs: {from: [size, parts]}
    command: /bin/sh -c "ls size parts > seen.txt"
    outputs: [seen.txt]
""",
    )
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    seen = (tmp_path / "out/total/seen.txt").read_text().split()
    assert seen == ["parts:", *(f"f{i}-a.part" for i in range(3)), "size:", "f0.n", "f1.n", "f2.n"]
    (tmp_path / "data/f1.txt").unlink()
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    seen = (tmp_path / "out/total/seen.txt").read_text().split()
    assert seen == ["parts:", "f0-a.part", "f2-a.part", "size:", "f0.n", "f2.n"]
    res = batchflow("run", str(spec), cwd=tmp_path)  # the tasks of f0 and f2 kept their outputs
    assert res.code == 0 and "Nothing to do: 5 tasks up to date" in res.stderr, res.stderr


GATHERED_SPLIT = """
inputs: [data/*.txt]
steps:
  split:
    for_each: input
    command: split -l 2 -d {input.name} chunk-{input.stem}-
    outputs: ["chunk-{input.stem}-*"]
  total:
    inputs: {from: split}
    command: /bin/sh -c "ls split > seen.txt; cat split/* | wc -l > lines.txt"
    outputs: [seen.txt, lines.txt]
  firsts:
    inputs: {from: split, pattern: "chunk-*-00"}
    command: /bin/sh -c "ls split > seen.txt"
    outputs: [seen.txt]
"""


def _lines(root: Path, counts: list[int]) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(counts):
        (root / "data" / f"f{i}.txt").write_text("".join(f"{k}\n" for k in range(n)))


def _gathered_split_twice(root: Path, spec: Path, **env: str) -> None:
    """f1 is split into 3 chunks, then into 2: the gathers see only the 2 it makes now, and
    f0's task, up to date, keeps its chunks (a third run finds everything up to date)."""
    target = ("--target", "azure") if env else ()
    _lines(root, [3, 6])
    res = batchflow("run", str(spec), *target, cwd=root, **env)
    assert res.code == 0, res.stderr
    assert (root / "out/total/lines.txt").read_text().strip() == "9"
    (root / "data/f1.txt").write_text("0\n1\n2\n3\n")  # chunk-f1-02 is made no more
    res = batchflow("run", str(spec), *target, cwd=root, **env)
    assert res.code == 0, res.stderr
    seen = (root / "out/total/seen.txt").read_text().split()
    assert seen == ["chunk-f0-00", "chunk-f0-01", "chunk-f1-00", "chunk-f1-01"], seen
    assert (root / "out/total/lines.txt").read_text().strip() == "7"
    assert (root / "out/firsts/seen.txt").read_text().split() == ["chunk-f0-00", "chunk-f1-00"]
    res = batchflow("run", str(spec), *target, cwd=root, **env)
    assert res.code == 0 and "Nothing to do: 4 tasks up to date" in res.stderr, res.stderr


def test_a_gathered_wildcard_task_run_again_leaves_none_of_its_old_files(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "gsplit", HEAD + GATHERED_SPLIT)
    _gathered_split_twice(tmp_path, spec)


def test_a_gathered_wildcard_task_run_again_on_the_azure_target_path(
    tmp_path: Path, emulator: object, azurite: str
) -> None:
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.url,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCOUNT": emulator.account,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCESS_KEY": emulator.key,  # type: ignore[attr-defined]
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
    }
    head = HEAD.replace("name: steps", "name: azgsplit")  # Azurite lives for the session
    _gathered_split_twice(tmp_path, write_spec(tmp_path, "gsplit", head + GATHERED_SPLIT), **env)


def test_file_names_with_spaces_unicode_and_leading_dashes_flow_between_steps(
    tmp_path: Path,
) -> None:
    """Each name reaches every step as itself: by name into a chain, by a wildcard into a
    fan-out (split writes files named after a stem, ``-rf`` once read as options), and
    into a gather."""
    (tmp_path / "data").mkdir()
    for name in ("-rf.txt", "a b.txt", "it's ñé.txt"):
        (tmp_path / "data" / name).write_text("one two\nthree\n")
    spec = write_spec(
        tmp_path,
        "names",
        HEAD
        + """
inputs: [data/*.txt]
steps:
  upper:
    for_each: input
    command: /bin/sh -c "tr a-z A-Z < {input.name} > {input.stem}.up"
    outputs: ["{input.stem}.up"]
  split:
    for_each: {outputs: upper}
    command: split -l 1 {input.name} {input.stem}-line-
    outputs: ["{input.stem}-line-*"]
  words:
    for_each: {outputs: split}
    command: /bin/sh -c "wc -w < {input.name} > {input.name}.n"
    outputs: ["{input.name}.n"]
  total:
    inputs: {from: words}
    command: >-
      /bin/sh -c "ls words > seen.txt; cat words/*.n | awk '{{s += $1}} END {{print s}}' > t.txt"
    outputs: [seen.txt, t.txt]
""",
    )
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (tmp_path / "out/total/t.txt").read_text().strip() == str(3 * 3)
    seen = (tmp_path / "out/total/seen.txt").read_text().splitlines()
    assert seen == [f"{s}-line-{c}.n" for s in ("-rf", "a b", "it's ñé") for c in ("aa", "ab")]


def test_a_failed_task_of_an_input_removed_since_fails_the_run_no_more(tmp_path: Path) -> None:
    """f2's task failed and the job was kept; the user removes f2: its task, left in the
    job, is no task of the spec, and the run of the spec's tasks succeeds (it said "1 of 3
    tasks failed", exit 1, for a task that is none of the 3)."""
    _files(tmp_path, 2)
    spec = write_spec(
        tmp_path,
        "removed",
        HEAD
        + """
inputs: [data/*.txt]
steps:
  a:
    for_each: input
    command: /bin/sh -c "[ {input.stem} != f2 ] || exit 3; cp {input.name} {input.stem}.o"
    outputs: ["{input.stem}.o"]
  b:
    inputs: {from: a}
    command: /bin/sh -c "cat a/*.o > all.txt"
    outputs: [all.txt]
""",
    )
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    _files(tmp_path, 3)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 1  # a-2 fails, the job is kept
    (tmp_path / "data/f2.txt").unlink()
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "1 task in the job is not in the spec (a-2)" in res.stderr
    assert "(the job also holds 1 task not in the spec)" in res.stderr, res.stderr
    assert (tmp_path / "out/b/all.txt").read_text().split() == ["x", "xx"]


def test_final_after_a_wildcard_task_run_again_sees_none_of_its_old_files(
    tmp_path: Path,
) -> None:
    """``tasks:`` is a one-step workflow and ``final:`` a gather over it: a task split into
    fewer chunks than last time leaves none of the old ones for ``final`` to read."""
    _lines(tmp_path, [6, 4])
    spec = write_spec(
        tmp_path,
        "fin",
        HEAD
        + """
inputs: [data/*.txt]
tasks:
  for_each: input
  command: split -l 2 -d {input.name} chunk-{input.stem}-
  outputs: ["chunk-{input.stem}-*"]
  final:
    command: /bin/sh -c "ls chunk-* > seen.txt"
    outputs: [seen.txt]
""",
    )
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    (tmp_path / "data/f0.txt").write_text("0\n1\n")
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    seen = (tmp_path / "out/seen.txt").read_text().split()
    assert seen == ["chunk-f0-00", "chunk-f1-00", "chunk-f1-01"], seen


def test_an_unchanged_one_task_workflow_says_one_task(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, "one", HEAD + 'steps:\n  only: {command: "touch a.txt", outputs: [a.txt]}\n'
    )
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    res = batchflow("run", str(spec), cwd=tmp_path)
    assert res.code == 0 and "tasks: nothing to do: 1 task up to date" in res.stderr, res.stderr
    assert "1 tasks" not in res.stderr


def test_plan_after_a_failure_says_the_failed_task_never_succeeded(tmp_path: Path) -> None:
    """``left`` failed; ``plan`` called it and what it blocked "new", as if never run."""
    spec = write_spec(tmp_path, "diamond", HEAD + DIAMOND % "exit 3")
    assert batchflow("run", str(spec), cwd=tmp_path, timeout=60).code == 1
    res = batchflow("plan", str(spec), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "2 never succeeded, run" in res.stdout, res.stdout
    assert "new, run" not in res.stdout
