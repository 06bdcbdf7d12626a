"""Hostile files and state against workflows of steps, with the real CLI on the local target:
what a task makes (symbolic links, loops) and what lies in ``.batchflow/`` (damaged records)
must neither hang, crash nor reach outside batchflow's own folders."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.conftest import batchflow, write_spec

HEAD = """
version: 1
name: atk
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 1}}
download: out/
"""


def test_symlink_loops_a_task_makes_do_not_hang_a_recursive_output_pattern(
    tmp_path: Path,
) -> None:
    """``**`` crosses real directories only: two links to ``.`` (as an untrusted tarball may
    hold) made glob walk 2**40 paths, holding the node and growing the emulator without end;
    a link to ``/`` walked the whole file system. The real files are still uploaded."""
    spec = write_spec(
        tmp_path,
        "loops",
        HEAD
        + """
steps:
  make:
    command: /bin/sh -c "mkdir sub; echo one > sub/f.txt; ln -s . a; ln -s . b; ln -s / root"
    outputs: ["**/*.txt"]
  use:
    for_each: {outputs: make}
    command: /bin/sh -c "tr a-z A-Z < {input.name} > {input.stem}.up"
    outputs: ["{input.stem}.up"]
""",
    )
    result = batchflow("run", str(spec), "--json", cwd=tmp_path, timeout=90)
    assert result.code == 0, result.stderr
    assert (tmp_path / "out/use/f.up").read_text() == "ONE\n"
    assert result.json()["tasks"]["succeeded"] == 2


CHAIN = """
steps:
  one:
    command: /bin/sh -c "echo a > a.txt"
    outputs: [a.txt]
  two:
    for_each: {outputs: one}
    command: /bin/sh -c "tr a-z A-Z < {input.name} > {input.stem}.up"
    outputs: ["{input.stem}.up"]
"""
DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON, deeper than the parser's recursion


def test_a_damaged_cache_record_is_skipped_not_a_crash(tmp_path: Path) -> None:
    """A line of the cache beside the spec (or of its copy in the output container, which
    whoever can write there can change) that nests too deep for the JSON parser is a damaged
    line like any other: its task just runs (before: RecursionError, exit 3)."""
    spec = write_spec(tmp_path, "cached", HEAD + CHAIN)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    records = tmp_path / ".batchflow/cache/atk-job.jsonl"
    records.write_text(DEEP + "\n" + records.read_text())
    copy = tmp_path / ".batchflow/blobs/atk-output/.batchflow/cache.jsonl"  # the container's
    copy.write_bytes(b"\xff\xfe not UTF-8\n" + copy.read_bytes())
    again = batchflow("run", str(spec), cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert "Nothing to do: 2 tasks up to date" in again.stderr, again.stderr


DAMAGED = [
    DEEP,
    '{"kind":"start","total":"x"}',
    '{"kind":"start","steps":7}',
    '{"kind":"stage","stage":"pool","seconds":"zz"}',
    '{"kind":"task","id":"x","outputs":5}',
    '{"kind":"task","id":["a"],"state":{}}',
    '{"kind":"task","id":"y","step":"one","state":"completed","start":"yesterday","end":"now"}',
    '{"kind":"task","id":"z","step":"one","state":"completed","start":"2026-01-01T00:00"}',
    '{"kind":"end","ended":"soon","outcome":"won","cleaned":3}',
]


def test_damaged_lines_of_a_run_record_are_skipped_by_what_reads_it(tmp_path: Path) -> None:
    """``runs``, ``status`` and ``report`` read ``.batchflow/runs/*/record.jsonl``: a line
    of the wrong shape (types, times, nesting) is skipped as a torn one is, and the rest of
    the record still counts (before: each ended in an unexpected error, exit 3)."""
    spec = write_spec(tmp_path, "recorded", HEAD + CHAIN)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    (record,) = (tmp_path / ".batchflow/runs").glob("*/record.jsonl")
    record.write_text(record.read_text() + "".join(f"{line}\n" for line in DAMAGED))
    runs = batchflow("runs", str(spec), "--json", cwd=tmp_path)
    assert runs.code == 0, runs.stderr
    (run,) = runs.json()
    assert (run["outcome"], run["tasks"]) == ("succeeded", {"success": 2})
    assert batchflow("status", str(spec), cwd=tmp_path).code == 0
    report = batchflow("report", str(spec), "-o", str(tmp_path / "r.html"), cwd=tmp_path)
    assert report.code == 0, report.stderr


def test_a_planted_task_id_does_not_make_report_or_logs_read_outside_the_run(
    tmp_path: Path,
) -> None:
    """A task's kept logs are ``logs/<task id>.stderr.txt`` of its run: a record line whose
    id climbs (``../../../x``) made ``report`` put any ``*.stderr.txt`` on the disk into the
    page, and ``logs`` print it. A task id is a Batch id (letters, digits, - and _)."""
    spec = write_spec(tmp_path, "recorded", HEAD + CHAIN)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    (record,) = (tmp_path / ".batchflow/runs").glob("*/record.jsonl")
    (tmp_path / "private.stderr.txt").write_text("PRIVATE-CONTENT\n")
    (tmp_path / "private.stdout.txt").write_text("PRIVATE-CONTENT\n")
    climb = "../../../../private"  # from .batchflow/runs/<run>/logs/
    planted = (
        f'{{"kind":"task","id":"{climb}","step":"one","state":"completed","result":"failure"}}\n'
    )
    record.write_text(record.read_text() + planted)
    page = tmp_path / "r.html"
    assert batchflow("report", str(spec), "-o", str(page), cwd=tmp_path).code == 0
    assert "PRIVATE-CONTENT" not in page.read_text()
    logs = batchflow("logs", str(spec), climb, cwd=tmp_path)
    assert "PRIVATE-CONTENT" not in logs.stdout


def test_a_download_manifest_nested_too_deep_is_read_as_damaged(tmp_path: Path) -> None:
    """``downloads.json`` (which files a run may overwrite) nested deeper than the JSON
    parser goes is read as damaged (no manifest: nothing of the user's is overwritten), not
    an unexpected error (exit 3) after every task ran."""
    spec = write_spec(tmp_path, "deep", HEAD + CHAIN)
    assert batchflow("run", str(spec), cwd=tmp_path).code == 0
    state = tmp_path / ".batchflow"
    (state / "downloads.json").write_text(DEEP)
    (tmp_path / "out/two/a.up").unlink()
    again = batchflow("run", str(spec), cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert (tmp_path / "out/two/a.up").read_text() == "A\n"


def test_an_output_stored_where_batchflow_keeps_its_cache_is_refused(tmp_path: Path) -> None:
    """``.batchflow/cache.jsonl`` in the output container is batchflow's record of what
    succeeded. A `tasks:` output stored there (by its name, or a destination under
    ``.batchflow/``) was accepted: it was never downloaded (said nowhere), the record written
    over it made its task run again on every rerun, and until then the task's file was the
    cache other machines read."""
    body = """
tasks:
  matrix: {{n: [1]}}
  command: /bin/sh -c "mkdir -p .batchflow; echo x > .batchflow/cache.jsonl; echo x > r.txt"
  outputs: [{outputs}]
"""
    for outputs in (
        '".batchflow/cache.jsonl"',
        '{pattern: "r.txt", destination: ".batchflow"}',
        '{pattern: "*.txt", destination: ".batchflow/x"}',
    ):
        spec = write_spec(tmp_path, "reserved", HEAD + body.format(outputs=outputs))
        result = batchflow("validate", str(spec), cwd=tmp_path)
        assert result.code == 2, (outputs, result.stdout, result.stderr)
        assert "reserved.yaml:10:" in result.stdout + result.stderr, (outputs, result.stdout)
        assert "'.batchflow/'" in result.stdout + result.stderr, (outputs, result.stdout)


def test_files_whose_names_make_the_same_task_id_end_the_run_saying_so(tmp_path: Path) -> None:
    """A fan-out's id made of a file's name: ``Data.txt`` and ``data.txt`` make one Batch id
    (ids ignore case), as ``*`` and ``?`` do (both become ``_``). The second task was never
    added, but counted: the run waited for it for ever. It ends now (exit 2), naming both
    files and what to put in the id."""
    spec = write_spec(
        tmp_path,
        "clash",
        HEAD
        + """
steps:
  make:
    command: /bin/sh -c "echo 1 > Data.txt; echo 2 > data.txt"
    outputs: ["*.txt"]
  use:
    for_each: {outputs: make}
    id: "{input.stem}"
    command: /bin/sh -c "cat {input.name} > {input.stem}.out"
    outputs: ["{input.stem}.out"]
""",
    )
    result = batchflow("run", str(spec), cwd=tmp_path, timeout=90)
    assert result.code == 2, result.stderr
    assert "'Data.txt' and 'data.txt'" in result.stderr, result.stderr
    assert "{index}" in result.stderr, result.stderr


def test_two_fanned_tasks_writing_one_output_end_the_run_instead_of_a_wrong_result(
    tmp_path: Path,
) -> None:
    """Two inputs split into files of the same names (``chunk-aa``): the tasks made of them
    both wrote ``count/chunk-aa.n``, the last one's won, and the gather summed 60 where the
    inputs hold 63, with exit 0. As validate does for tasks known before the run, the run
    now ends (exit 2) naming both tasks and the output."""
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.txt").write_text("1\n2\n")
    (data / "b.txt").write_text("10\n20\n30\n")
    spec = write_spec(
        tmp_path,
        "same",
        HEAD
        + """
inputs: [in/*.txt]
steps:
  split:
    for_each: input
    command: split -l 1 {input.name} chunk-
    outputs: ["chunk-*"]
  count:
    for_each: {outputs: split}
    command: /bin/sh -c "cat {input.name} > {input.name}.n"
    outputs: ["{input.name}.n"]
  total:
    inputs: {from: count}
    command: /bin/sh -c "cat count/*.n | awk '{{s += $1}} END {{print s}}' > total.txt"
    outputs: [total.txt]
""",
    )
    result = batchflow("run", str(spec), cwd=tmp_path, timeout=90)
    assert result.code == 2, result.stderr
    assert "count/chunk-aa.n" in result.stderr and "{task.id}" in result.stderr, result.stderr
    assert not (tmp_path / "out/total/total.txt").exists()


def test_a_clash_of_file_names_is_said_on_one_inert_line(tmp_path: Path) -> None:
    """The names in that message are a task's files: a newline or a terminal escape in one
    is shown escaped, on the one line of the error."""
    spec = write_spec(
        tmp_path,
        "clash",
        HEAD
        + """
steps:
  make:
    command: /bin/sh -c "printf 1 > x_y.txt; printf 2 > \\"$(printf 'x\\\\ny.txt')\\""
    outputs: ["*.txt"]
  use:
    for_each: {outputs: make}
    id: "{input.stem}"
    command: /bin/sh -c "cat {input.name} > {input.stem}.out"
    outputs: ["{input.stem}.out"]
""",
    )
    result = batchflow("run", str(spec), cwd=tmp_path, timeout=90)
    assert result.code == 2, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "'x\\ny.txt' and 'x_y.txt'" in line, result.stderr


def test_a_file_name_that_is_not_utf8_is_an_output_like_any_other(tmp_path: Path) -> None:
    """A task that makes ``caf\\xe9.txt`` (a Latin-1 name, as old archives hold): the node's
    upload log could not be written (UnicodeEncodeError), so the task failed as a server
    error after its file was uploaded; and the cache, written with such names, could not be
    read back (the copy in the output container ended the next run, exit 3)."""
    spec = write_spec(
        tmp_path,
        "latin",
        HEAD
        + """
steps:
  make:
    command: /bin/sh -c "printf 1 > \\"$(printf 'caf\\\\351.txt')\\""
    outputs: ["*.txt"]
""",
    )
    first = batchflow("run", str(spec), cwd=tmp_path)
    assert first.code == 0, first.stderr
    assert (tmp_path / "out/make").joinpath(os.fsdecode(b"caf\xe9.txt")).read_text() == "1"
    again = batchflow("run", str(spec), cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert "Nothing to do: 1 task up to date" in again.stderr, again.stderr


def test_a_fan_out_of_a_file_name_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    """Such a file cannot be staged for a task (a resource file's URL, a blob name in Azure
    Storage, is UTF-8): the run ended in an unexpected UnicodeEncodeError (exit 3), every
    rerun too. It ends with exit 2 and a line naming the file and the task that made it."""
    spec = write_spec(
        tmp_path,
        "latin",
        HEAD
        + """
steps:
  make:
    command: /bin/sh -c "printf 1 > \\"$(printf 'caf\\\\351.txt')\\""
    outputs: ["*.txt"]
  use:
    for_each: {outputs: make}
    command: /bin/sh -c "cat {input.name} > {input.stem}.out"
    outputs: ["{input.stem}.out"]
""",
    )
    result = batchflow("run", str(spec), cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert "'caf\\udce9.txt'" in result.stderr and "make" in result.stderr, result.stderr
    assert "UTF-8" in result.stderr, result.stderr
    gather = spec.read_text().replace(
        "for_each: {outputs: make}", 'inputs: {from: make, pattern: "*.txt"}'
    )
    gather = gather.replace("cat {input.name} > {input.stem}.out", "true")
    spec.write_text(gather.replace('outputs: ["{input.stem}.out"]', "outputs: []"))
    result = batchflow("run", str(spec), cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert "step 'make' made the file" in result.stderr, result.stderr


def test_on_the_azure_path_a_name_that_is_not_utf8_fails_its_task_saying_why(
    tmp_path: Path, emulator: object, azurite: str
) -> None:
    """No blob can be named ``caf\\xe9.txt``: the upload raised UnicodeEncodeError, and the
    task failed as a server error ("could not be run by the local node"). It is the task's
    own doing: a user error saying which file."""
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.url,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCOUNT": emulator.account,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCESS_KEY": emulator.key,  # type: ignore[attr-defined]
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
    }
    spec = write_spec(
        tmp_path,
        "azlatin",
        HEAD.replace("name: atk", "name: azlatin")
        + """
steps:
  make:
    command: /bin/sh -c "printf 1 > \\"$(printf 'caf\\\\351.txt')\\""
    outputs: ["*.txt"]
""",
    )
    result = batchflow("run", str(spec), "--target", "azure", "--json", cwd=tmp_path, **env)
    assert result.code == 1, result.stderr
    (failed,) = result.json()["failed_tasks"]
    assert failed["category"] == "usererror", failed
    assert "caf\\udce9.txt" in failed["message"] and "UTF-8" in failed["message"], failed


def test_a_file_where_a_steps_download_folder_goes_is_refused_not_a_crash(
    tmp_path: Path,
) -> None:
    """``out/two`` is the user's file, where step two's outputs would go (``out/two/``): the
    download ended in an unexpected FileExistsError (exit 3). It is refused as a file in the
    way is, saying where, with nothing downloaded and the file as it was."""
    spec = write_spec(tmp_path, "inway", HEAD + CHAIN)
    (tmp_path / "out").mkdir()
    (tmp_path / "out/two").write_text("mine\n")
    result = batchflow("run", str(spec), cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert str(tmp_path / "out/two") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert (tmp_path / "out/two").read_text() == "mine\n"


def test_a_link_planted_where_the_cache_is_written_writes_nothing_through_it(
    tmp_path: Path,
) -> None:
    """The cache was written to ``<job>.jsonl.partial`` and renamed: a symbolic link planted
    under that name had the run write the records into whatever file it led to."""
    spec = write_spec(tmp_path, "planted", HEAD + CHAIN)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    cache = tmp_path / ".batchflow/cache"
    cache.mkdir(parents=True)
    (cache / "atk-job.jsonl.partial").symlink_to(victim)
    result = batchflow("run", str(spec), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    again = batchflow("run", str(spec), cwd=tmp_path)
    assert "Nothing to do: 2 tasks up to date" in again.stderr, again.stderr


def test_a_link_planted_where_a_blobs_md5_is_kept_writes_nothing_through_it(
    tmp_path: Path,
) -> None:
    """The local blob store keeps each uploaded blob's MD5 in ``.md5/<container>/<blob>``, a
    name known in advance: a symbolic link planted there had the upload write into the file
    it led to."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.txt").write_text("a\n")
    spec = write_spec(
        tmp_path,
        "md5",
        HEAD
        + """
inputs: [in/*.txt]
steps:
  one:
    for_each: input
    command: /bin/sh -c "cat {input.name} > {input.stem}.out"
    outputs: ["{input.stem}.out"]
""",
    )
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    record = tmp_path / ".batchflow/blobs/.md5/atk-input/in/a.txt"
    record.parent.mkdir(parents=True)
    record.symlink_to(victim)
    result = batchflow("run", str(spec), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "out/one/a.out").read_text() == "a\n"
