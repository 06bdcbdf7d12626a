"""Caching that survives cleanup, end to end on the local target: an unchanged rerun after
the job was deleted runs nothing, a changed input re-runs exactly what is downstream of it,
an output deleted from the output container makes its task run again, and ``plan`` says
what a run would do and why."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.conftest import Result, batchflow, write_spec

HEAD = """
version: 1
name: cached
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 1}, slots_per_node: 4}
download: out/
cleanup: {job: delete, pool: delete, inputs: delete}
"""


def _spec(root: Path, log: Path) -> Path:
    """A chain per input file (upper -> count) into a gather (total); every task appends its
    id to ``log``, outside the working directory, when it runs."""
    (root / "data").mkdir()
    for i in range(3):
        (root / "data" / f"f{i}.txt").write_text(f"word {i}\n" * (i + 1))
    return write_spec(
        root,
        "cached",
        HEAD
        + f"""
params: {{log: {log}}}
inputs: [data/*.txt]
steps:
  upper:
    for_each: input
    command: >-
      /bin/sh -c "echo {{task.id}} >> {{params.log}};
      tr a-z A-Z < {{input.name}} > {{input.stem}}.up"
    outputs: ["{{input.stem}}.up"]
  count:
    for_each: {{outputs: upper}}
    command: >-
      /bin/sh -c "echo {{task.id}} >> {{params.log}}; wc -w < {{input.name}} > {{input.stem}}.n"
    outputs: ["{{input.stem}}.n"]
  total:
    inputs: {{from: count}}
    command: >-
      /bin/sh -c "echo {{task.id}} >> {{params.log}}; cat count/*.n | awk '{{{{s += $1}}}}
      END {{{{print s}}}}' > total.txt"
    outputs: [total.txt]
""",
    )


def _ran(log: Path, since: int) -> list[str]:
    """The ids of the tasks that ran after the first ``since`` lines of the log."""
    return sorted(log.read_text().split()[since:])


def _run(spec: Path, root: Path) -> Result:
    result = batchflow("run", str(spec), cwd=root)
    assert result.code == 0, result.stderr
    return result


ALL = ["count-0", "count-1", "count-2", "total", "upper-0", "upper-1", "upper-2"]


def test_an_unchanged_rerun_after_cleanup_runs_nothing(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    spec = _spec(tmp_path, log)
    _run(spec, tmp_path)
    assert _ran(log, 0) == ALL
    again = _run(spec, tmp_path)
    assert _ran(log, len(ALL)) == []
    assert "Nothing to do: 7 tasks up to date" in again.stderr
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "12"


def test_one_changed_input_reruns_exactly_its_chain_and_the_gather(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    spec = _spec(tmp_path, log)
    _run(spec, tmp_path)
    (tmp_path / "data/f1.txt").write_text("word\n" * 10)
    again = _run(spec, tmp_path)
    assert _ran(log, len(ALL)) == ["count-1", "total", "upper-1"]
    assert "4 of them up to date, not run again" in again.stderr
    # the gather saw the up-to-date outputs too: 2 + 10 + 6 words
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "18"


def test_an_output_gone_from_the_output_container_runs_its_task_again(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    spec = _spec(tmp_path, log)
    _run(spec, tmp_path)
    (tmp_path / ".batchflow/blobs/cached-output/count/f2.n").unlink()
    _run(spec, tmp_path)
    # count-2 runs again; so does what depends on it, whose input it rewrote
    assert _ran(log, len(ALL)) == ["count-2", "total"]
    assert (tmp_path / "out/total/total.txt").read_text().strip() == "12"


def test_a_tasks_spec_benefits_too(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    spec = write_spec(
        tmp_path,
        "sweep",
        HEAD
        + f"""
params: {{log: {log}}}
tasks:
  matrix: {{n: [1, 2, 3]}}
  id: "n{{item.n}}"
  command: /bin/sh -c "echo {{task.id}} >> {{params.log}}; echo {{item.n}} > out.txt"
  outputs: [{{pattern: out.txt, destination: "{{task.id}}"}}]
""",
    )
    _run(spec, tmp_path)
    again = _run(spec, tmp_path)
    assert _ran(log, 3) == []
    assert "Nothing to do: 3 tasks up to date" in again.stderr


def test_plan_says_what_would_run_and_why(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    spec = _spec(tmp_path, log)
    before = batchflow("plan", str(spec), cwd=tmp_path)
    assert before.code == 0, before.stderr
    assert "up to date" not in before.stdout  # no state yet: nothing to say
    _run(spec, tmp_path)
    (tmp_path / "data/f0.txt").write_text("changed\n")
    shown = batchflow("plan", str(spec), cwd=tmp_path)
    assert shown.code == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "4 up to date" in text, shown.stdout
    assert "1 changed" in text and "upper-0" in text, shown.stdout
    assert "2 re-run, upstream changed" in text and "count-0" in text, shown.stdout
    as_json = batchflow("plan", "--json", str(spec), cwd=tmp_path).json()
    assert as_json["cache"] == {"up_to_date": 4, "changed": 1, "upstream_changed": 2, "new": 0}


def test_a_task_missing_a_declared_output_is_not_recorded_as_done(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    spec = write_spec(
        tmp_path,
        "forgetful",
        HEAD.replace("inputs: delete}", "inputs: delete, when: always}")
        + f"""
params: {{log: {log}}}
tasks:
  matrix: {{n: [1, 2]}}
  id: "n{{item.n}}"
  command: /bin/sh -c "echo {{task.id}} >> {{params.log}}; [ {{item.n}} = 2 ] || echo > out.txt"
  outputs: [{{pattern: out.txt, destination: "{{task.id}}"}}]
""",
    )
    first = batchflow("run", str(spec), cwd=tmp_path)
    assert first.code == 1 and "n2" in first.stderr, first.stderr
    # the job is gone (cleanup: always); n1 is up to date, n2 succeeded without its output
    again = batchflow("run", str(spec), cwd=tmp_path)
    assert again.code == 1, again.stderr
    assert _ran(log, 2) == ["n2"]


def test_a_second_machine_finds_the_records_in_the_output_container(
    tmp_path: Path, emulator: object, azurite: str
) -> None:
    """``--target azure`` (the emulator for Batch, Azurite for Storage): a copy of the
    workflow in another directory, without the first one's .batchflow/, runs nothing."""
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.url,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCOUNT": emulator.account,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCESS_KEY": emulator.key,  # type: ignore[attr-defined]
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
    }
    log = tmp_path / "ran.log"
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    spec = _spec(first, log)
    text = spec.read_text().replace("name: cached", "name: shared")  # its own containers
    spec.write_text(text)
    assert batchflow("run", str(spec), cwd=first, **env).code == 0
    assert _ran(log, 0) == ALL
    shutil.copytree(first, second, ignore=shutil.ignore_patterns(".batchflow", "out"))
    again = batchflow("run", spec.name, cwd=second, **env)
    assert again.code == 0, again.stderr
    assert "Nothing to do: 7 tasks up to date" in again.stderr
    assert _ran(log, len(ALL)) == []


def test_a_spec_that_prints_stdout_runs_again_to_print_it(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        "talk",
        HEAD
        + """
tasks:
  matrix: {n: [1, 2]}
  id: "n{item.n}"
  command: /bin/sh -c "echo said-{item.n}"
  print_stdout: true
""",
    )
    _run(spec, tmp_path)
    again = _run(spec, tmp_path)
    assert "said-1" in again.stdout and "said-2" in again.stdout
