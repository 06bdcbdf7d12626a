"""Spec checks that keep a run from reading or overwriting what it should not (QA findings)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from spec_files import load, one, problems, write_spec

from batchflow.plan import build_plan

LIST = "tasks: {list: [{id: a, command: cat}]}\n"


def _outside(tmp_path: Path) -> Path:
    """A directory beside the spec's, holding a 'secret'."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("s3cret")
    (out / "hostname").write_text("h")
    return out


def test_a_file_link_leading_outside_is_refused_at_its_glob(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    root = tmp_path / "spec"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.txt").write_text("a")
    os.symlink(outside / "secret.txt", root / "in" / "b.txt")
    found = problems(root, 'inputs: ["in/*.txt"]\n' + LIST)
    p = one(found, "inputs[0]", "'in/b.txt' is a symbolic link to")
    assert str(outside / "secret.txt") in p.message and (p.line, p.col) == (4, 10)


def test_directory_links_leading_outside_are_not_entered(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    root = tmp_path / "spec"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.txt").write_text("a")
    os.symlink(outside, root / "in" / "etcdir")
    found = problems(root, 'inputs: ["in/etcdir/hostname", "in/**/*.txt"]\n' + LIST)
    one(found, "inputs[0]", f"'in/etcdir' is a symbolic link to {outside}")
    one(found, "inputs[1]", f"'in/etcdir' is a symbolic link to {outside}")
    assert not any("secret" in p.message for p in found)


def test_links_that_stay_inside_the_tree_are_fine(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("x")
    (tmp_path / "in").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "in" / "d")
    os.symlink(tmp_path / "data" / "x.txt", tmp_path / "in" / "y.txt")
    spec = load(tmp_path, 'inputs: ["in/**/*.txt"]\n' + LIST)
    assert sorted(f.blob for f in spec.inputs) == ["in/d/x.txt", "in/y.txt"]


def test_globs_keep_globs_rules(tmp_path: Path) -> None:
    files = ["a.txt", ".hidden.txt", "s/b.txt", "s/t/c.TXT", ".h/d.txt"]
    spec = load(tmp_path, 'inputs: ["**/*.txt", "s/*/*.TXT", ".h*/*"]\n' + LIST, files)
    assert [f.blob for f in spec.inputs] == ["a.txt", "s/b.txt", "s/t/c.TXT", ".h/d.txt"]
    spec = load(tmp_path, 'inputs: ["s/**", "./?.txt"]\n' + LIST, files)
    assert [f.blob for f in spec.inputs] == ["s/b.txt", "s/t/c.TXT", "a.txt"]


def test_a_file_name_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in").joinpath(os.fsdecode(b"caf\xe9.txt")).write_text("x")
    found = problems(tmp_path, 'inputs: ["in/*"]\n' + LIST)
    one(found, "inputs[0]", "file name 'in/caf\\xe9.txt' is not valid UTF-8")


def test_durations_are_bounded(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "job: {timeout: 99999999d}\n"
        "tasks: {list: [{id: a, command: x, timeout: P99999999999999999999D}]}\n",
    )
    one(found, "job.timeout", "is longer than 180 days")
    one(found, "tasks.list[0].timeout", "more than 12 digits")
    spec = load(tmp_path, "job: {timeout: 180d}\n" + LIST)
    assert spec.job_timeout_s == 180 * 86400


def test_input_and_output_containers_must_differ(tmp_path: Path) -> None:
    found = problems(tmp_path, "containers: {input: same, output: same}\n" + LIST)
    p = one(found, "containers", "input and output containers are both 'same'")
    assert p.line == 4


@pytest.mark.parametrize("where", [".", "..", "in/..", ""])
def test_download_into_the_spec_directory_or_above_is_refused(tmp_path: Path, where: str) -> None:
    body = f"download: '{where or str(tmp_path)}'\n" + LIST
    found = problems(tmp_path, body)
    one(found, "download", "is the spec's directory or holds it")


def test_download_into_an_input_directory_or_a_file_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, 'inputs: ["in/*"]\ndownload: in\n' + LIST, ["in/a.txt"])
    one(found, "download", "holds the input 'in/a.txt'")
    found = problems(tmp_path, "download: .batchflow/x\n" + LIST)
    one(found, "download", "'.batchflow/x' is inside .batchflow/, the local target's state")
    found = problems(tmp_path, "download: f.txt\n" + LIST, ["f.txt"])
    one(found, "download", "exists and is not a directory")
    spec = load(tmp_path, 'inputs: ["in/*"]\ndownload: results\n' + LIST, ["in/a.txt"])
    assert spec.download == tmp_path.resolve() / "results"


def test_a_download_link_into_the_inputs_is_refused(tmp_path: Path) -> None:
    write_spec(tmp_path, "", ["in/a.txt"])
    os.symlink(tmp_path / "in", tmp_path / "dl")
    found = problems(tmp_path, 'inputs: ["in/*"]\ndownload: dl\n' + LIST)
    one(found, "download", "holds the input 'in/a.txt'")


def test_scalars_follow_yaml_1_2_core_rules(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        params:
          a: yes
          b: off
          c: 010
          d: 1.10
          e: 0x1F
          f: 0o17
          g: 1:30
          h: True
          i: "true"
          j: 1e3
        tasks: {list: [{id: a, command: "x {params.a}"}]}
        """,
    )
    assert dict(spec.params) == {
        "a": "yes",
        "b": "off",
        "c": 10,
        "d": 1.1,
        "e": 31,
        "f": 15,
        "g": "1:30",
        "h": True,
        "i": "true",
        "j": 1000.0,
    }


def test_a_null_param_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, "params: {a: ~, b: null, c: }\n" + LIST)
    for key in "abc":
        one(found, f"params.{key}", "got nothing")


SET_SPEC = """\
params: {n: 3, ratio: 0.5, fast: false, version: "1.0", word: hi}
tasks: {list: [{id: a, command: "x {params.n} {params.ratio} {params.fast} {params.version}"}]}
"""


def test_set_values_take_the_type_of_the_param_they_replace(tmp_path: Path) -> None:
    sets = ["n=010", "ratio=2", "fast=true", "version=1.10", "word=yes"]
    spec = load(tmp_path, SET_SPEC, overrides=sets)
    assert dict(spec.params) == {
        "n": 10,
        "ratio": 2.0,
        "fast": True,
        "version": "1.10",
        "word": "yes",
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("n=1.5", "--set n=1.5: this param is a whole number"),
        ("n=" + "9" * 5000, "more than 100 digits"),
        ("ratio=abc", "--set ratio=abc: this param is a number"),
        ("fast=yes", "--set fast=yes: this param is true or false"),
    ],
)
def test_set_values_of_the_wrong_type_are_named(tmp_path: Path, item: str, message: str) -> None:
    found = problems(tmp_path, SET_SPEC, overrides=[item])
    one(found, f"params.{item.partition('=')[0]}", message)


def test_a_huge_number_in_the_spec_is_a_spec_error(tmp_path: Path) -> None:
    found = problems(tmp_path, "params: {n: " + "9" * 5000 + "}\n" + LIST)
    assert "more than 100 digits" in found[0].message and found[0].line == 4


def test_single_file_outputs_of_two_tasks_must_not_share_a_blob(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "tasks: {matrix: {i: [1, 2, 3]}, command: 'x {item.i}', outputs: [r.txt]}\n",
    )
    p = one(found, "tasks.outputs[0]", "tasks 'task0' and 'task1' both write the output 'r.txt'")
    assert "{task.id} or {index}" in p.message
    found = problems(
        tmp_path,
        """\
        tasks:
          list:
            - {id: a, command: x, outputs: [{pattern: o.txt, destination: out}]}
            - {id: b, command: x, outputs: [out/o.txt]}
        """,
    )
    one(found, "tasks.list[1].outputs[0]", "tasks 'a' and 'b' both write the output 'out/o.txt'")


def test_outputs_made_unique_by_placeholders_or_case_or_wildcards_pass(tmp_path: Path) -> None:
    for outputs in (
        "['{task.id}.txt', '*.log']",
        "[{pattern: r.txt, destination: 'res/{index}'}]",
    ):
        body = f"tasks: {{matrix: {{i: [1, 2]}}, command: 'x {{item.i}}', outputs: {outputs}}}\n"
        load(tmp_path, body)
    load(
        tmp_path,
        "tasks: {list: [{id: a, command: x, outputs: [R.txt]}, {id: b, command: x, "
        "outputs: [r.txt]}]}\n",
    )


def test_file_names_starting_with_a_dash_cannot_be_read_as_options(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        params: {flag: -v}
        inputs: ["-rf.txt"]
        tasks:
          for_each: input
          command: /bin/sh -c "cat {input.name} '{input.path}' {params.flag} copy-{input.name}"
          outputs: ["{input.name}.out"]
        """,
        ["-rf.txt"],
    )
    task = next(iter(build_plan(spec).tasks))
    assert task.command == "/bin/sh -c \"cat ./-rf.txt './-rf.txt' -v copy--rf.txt\""
    assert task.id == "task0" and task.outputs[0].pattern == "-rf.txt.out"
    assert task.inputs[0].path == "-rf.txt"


def test_a_stem_starting_with_a_dash_cannot_be_read_as_an_option_either(tmp_path: Path) -> None:
    """``{input.stem}`` names the file a task writes (``split ... {input.stem}-part-``): a
    stem ``-rf`` was passed as is and read as options (split: invalid option -- 'r')."""
    spec = load(
        tmp_path,
        """\
        inputs: ["-rf.txt"]
        tasks:
          for_each: input
          command: split -l 1 {input.name} {input.stem}-part- x{input.stem}
          outputs: ["{input.stem}-part-*"]
        """,
        ["-rf.txt"],
    )
    task = next(iter(build_plan(spec).tasks))
    assert task.command == "split -l 1 ./-rf.txt ./-rf-part- x-rf"
    assert task.outputs[0].pattern == "-rf-part-*"


def test_template_problems_are_reported_alongside_schema_errors(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 1
        name: demo
        pool: {vm_size: a, image: ubuntu-22.04, nodes: {dedicated: many}}
        cleanup: {job: sometimes}
        tasks: {list: [{id: a, command: "echo {nope}", outputs: [/etc/passwd]}]}
        """,
        base=False,
    )
    one(found, "pool.nodes.dedicated", "expected a whole number")
    one(found, "cleanup.job", "'sometimes' is not one of")
    one(found, "tasks.list[0].command", "unknown placeholder {nope}")


def test_output_escapes_are_reported_when_inputs_match_nothing(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        inputs: ["in/*.wav"]
        tasks: {for_each: input, command: "x {input.name}", outputs: ["../{input.stem}.out"]}
        """,
    )
    one(found, "inputs[0]", "matches no file")
    one(found, "tasks.outputs[0]", "every task: output pattern '../{input.stem}.out' must stay")


def test_a_broken_tasks_section_is_not_checked_further(tmp_path: Path) -> None:
    found = problems(tmp_path, "tasks: {list: [{id: a, command: 'x {nope}'}], retries: lots}\n")
    assert [p.path for p in found] == ["tasks.retries"]


@pytest.mark.parametrize(
    "pattern",
    ["*", "**", "**/*", "a/**/*.txt", "a/*/x*", "**/.h*", ".h/**", "a/[bc]/?.txt", "a/b", "nope/*"],
)
def test_the_matcher_agrees_with_glob_inside_the_tree(tmp_path: Path, pattern: str) -> None:
    import glob

    from batchflow.spec.inputs import Matcher

    names = ["r.txt", "a/x1.txt", "a/b/1.txt", "a/c/2.txt", "a/b/d/x.log", ".h/y.txt", "a/.hh"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    expected = sorted(
        h for h in glob.glob(pattern, root_dir=tmp_path, recursive=True) if (tmp_path / h).is_file()
    )
    assert sorted(Matcher(tmp_path).match(pattern)) == expected


def test_a_link_back_to_a_parent_is_walked_once(tmp_path: Path) -> None:
    write_spec(tmp_path, "", ["in/a.txt", "in/sub/b.txt"])
    os.symlink(tmp_path / "in", tmp_path / "in" / "sub" / "loop")
    spec = load(tmp_path, 'inputs: ["in/**/*.txt"]\n' + LIST)
    assert [f.blob for f in spec.inputs] == ["in/a.txt", "in/sub/b.txt"]
    os.symlink(tmp_path / "in" / "sub", tmp_path / "also")  # two ways in, no loop: both kept
    spec = load(tmp_path, 'inputs: ["**/b.txt"]\n' + LIST)
    assert [f.blob for f in spec.inputs] == ["also/b.txt", "in/sub/b.txt"]


def test_start_task_files_behind_a_link_leading_outside_are_refused(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    root = tmp_path / "spec"
    root.mkdir()
    os.symlink(outside / "secret.txt", root / "setup.sh")
    body = (
        "version: 1\nname: demo\npool:\n  vm_size: a\n  image: ubuntu-22.04\n"
        "  nodes: {dedicated: 1}\n  start_task: {command: sh setup.sh, files: [setup.sh]}\n"
    )
    found = problems(root, body + LIST, base=False)
    p = one(found, "pool.start_task.files[0]", "'setup.sh' is a symbolic link to")
    assert p.line == 7
