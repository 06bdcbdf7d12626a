"""`batchflow validate`, `plan` and `schema` through click (in process) and as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchflow.cli import cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
GOOD = """\
version: 1
name: demo
params: {word: hello}
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 1}}
tasks:
  matrix: {n: [1, 2, 3, 4, 5, 6, 7]}
  command: "echo {params.word} {item.n}"
"""


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})  # no wrapped cells
    return result.exit_code, result.stdout, result.stderr


def _spec(tmp_path: Path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def test_validate_examples() -> None:
    code, out, err = _invoke(
        "validate", str(EXAMPLES / "quickstart.yaml"), str(EXAMPLES / "ffmpeg.yaml")
    )
    assert code == 0, err
    assert "quickstart.yaml: valid (3 tasks)" in out and "ffmpeg.yaml: valid (3 tasks)" in out


def test_validate_says_which_steps_add_tasks_as_the_run_goes(tmp_path: Path) -> None:
    """A workflow with dynamic steps was "valid (1 task)": its fan-out's tasks went unsaid."""
    spec = _spec(
        tmp_path,
        GOOD.split("tasks:")[0]
        + """\
steps:
  split: {command: "split -l 1 in.txt part-", outputs: ["part-*"]}
  count: {for_each: {outputs: split}, command: "wc -l {input.name}", outputs: ["{input.name}.n"]}
  total: {inputs: {from: count}, command: "true", outputs: [t.txt]}
""",
    )
    code, out, err = _invoke("validate", spec)
    assert code == 0, err
    assert out == f"{spec}: valid (1 task, and those of the dynamic steps count, total)\n"


BAD_INPUTS = {
    "empty": (b"", ":1:1: the spec is empty"),
    "list": (b"- 1\n", ":1:1: the spec must be a mapping"),
    "tabs": (b"a:\n\t- b\n", ":2:1: YAML syntax error"),
    "quote": (b"a: 'open\n", ":2:1: YAML syntax error"),
    "latin1": ("name: caf\xe9\n".encode("latin-1"), ":1:10: not UTF-8 text"),
    "binary": (bytes(range(256)), ":2:118: not UTF-8 text (binary file?)"),
    "nul": (b"name: x\x00y\n", ":1:8: not a text file (NUL byte)"),
    "duplicate": (GOOD.encode() + b"name: again\n", ":8:1: name: duplicate key (first at line 2)"),
    "bomb": (
        b"a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        + b"".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
            for p, c in zip("abcdefgh", "bcdefghi")
        ),
        "aliases expand to more than",
    ),
    # Which layer refuses it (PyYAML's parser or ours) depends on the PyYAML release: assert
    # the contract (located, exit 2), and only that the message is about nesting.
    "deep": (b"a: " + b"[" * 100_000, "nest"),
    "unknown_key": (GOOD.encode().replace(b"vm_size", b"vmsize"), "did you mean 'vm_size'?"),
    "wrong_type": (
        GOOD.encode().replace(b"dedicated: 1", b"dedicated: lots"),
        ":4:73: pool.nodes.dedicated: expected a whole number",
    ),
    "range": (
        GOOD.encode().replace(b"dedicated: 1", b"dedicated: -1"),
        "-1 is less than the minimum of 0",
    ),
    "placeholder": (
        GOOD.encode().replace(b"{item.n}", b"{item.m}"),
        ":7:12: tasks.command: unknown placeholder {item.m}",
    ),
    "ids": (
        GOOD.encode() + b"  id: same\n",
        "tasks.id: task id 'same' (task #1) is not unique: task #0 has the same id",
    ),
    "bad_id": (GOOD.encode() + b"  id: 'a b {item.n}'\n", "task id 'a b 1' is not valid"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_specs_exit_2_with_located_problems_and_no_traceback(tmp_path: Path, case: str) -> None:
    raw, expected = BAD_INPUTS[case]
    path = _spec(tmp_path, raw)  # type: ignore[arg-type]
    code, out, err = _invoke("validate", path)
    assert code == 2
    assert "Traceback" not in err + out
    assert expected in err, err
    assert err.splitlines()[0].startswith(f"{path}:")
    assert err.rstrip().endswith("found.")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    code, _, err = _invoke("validate", str(tmp_path / "nope.yaml"), str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'nope.yaml'}: no such file" in err
    assert f"{tmp_path}: is a directory, not a spec file" in err
    assert "2 problems found." in err


def test_several_specs_report_everything(tmp_path: Path) -> None:
    good = _spec(tmp_path, GOOD, "good.yaml")
    bad = _spec(
        tmp_path, GOOD.replace("vm_size", "vmsize").replace("ubuntu-22.04", "win"), "bad.yaml"
    )
    code, out, err = _invoke("validate", good, bad)
    assert code == 2
    assert f"{good}: valid (7 tasks)" in out
    assert err.count(bad) == 3  # unknown key, missing vm_size, unknown image


def test_validate_json(tmp_path: Path) -> None:
    good = _spec(tmp_path, GOOD, "good.yaml")
    bad = _spec(tmp_path, GOOD.replace("dedicated: 1", "dedicated: -1"), "bad.yaml")
    code, out, _ = _invoke("validate", "--json", good, bad)
    assert code == 2
    doc = json.loads(out)
    assert doc["valid"] is False
    assert doc["specs"][0] == {"path": good, "valid": True, "problems": []}
    assert doc["specs"][1]["problems"] == [
        {
            "file": bad,
            "line": 4,
            "col": 73,
            "path": "pool.nodes.dedicated",
            "message": "-1 is less than the minimum of 0",
        }
    ]
    code, out, _ = _invoke("validate", "--json", good)
    assert code == 0 and json.loads(out)["valid"] is True


def test_set_overrides_params(tmp_path: Path) -> None:
    path = _spec(tmp_path, GOOD)
    code, out, err = _invoke("plan", "--json", path, "--set", "word=it's 2")
    assert code == 0, err
    assert json.loads(out)["tasks"][0]["command"] == "echo 'it'\"'\"'s 2' 1"
    code, _, err = _invoke("validate", path, "--set", "wrod=1")
    assert code == 2 and "--set wrod: no such param (the spec declares: word)" in err


def test_plan_json_is_the_whole_plan(tmp_path: Path) -> None:
    code, out, err = _invoke("plan", "--json", str(EXAMPLES / "ffmpeg.yaml"))
    assert code == 0, err
    plan = json.loads(out)
    assert plan["task_count"] == len(plan["tasks"]) == 3
    assert plan["pool"]["image"]["node_agent_sku"] == "batch.node.ubuntu 22.04"
    assert plan["uploads"][0]["blob"] == "media/clip-a.mp4"
    assert len(plan["uploads"][0]["md5"]) == 32
    assert plan["tasks"][0]["inputs"] == [{"blob": "media/clip-a.mp4", "path": "clip-a.mp4"}]
    assert plan["tasks"][2]["outputs"][0]["condition"] == "tasksuccess"
    assert plan["job"]["timeout_s"] == 1800 and plan["cleanup"]["pool"] is True


def test_plan_json_streams_many_tasks_in_chunks(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(2345))
    path = _spec(tmp_path, GOOD.replace("[1, 2, 3, 4, 5, 6, 7]", f"[{values}]"))
    code, out, _ = _invoke("plan", "--json", path)
    assert code == 0
    tasks = json.loads(out)["tasks"]
    assert len(tasks) == 2345 and tasks[-1]["id"] == "task2344"


def test_plan_summary_shows_what_would_happen() -> None:
    code, out, err = _invoke("plan", str(EXAMPLES / "ffmpeg.yaml"))
    assert code == 0, err
    fragments = (
        "ffmpeg-input",
        "ffmpeg-pool",
        "60,873 bytes",
        "convert-clip-a",
        "-b:a 96k",
        "delete job, pool after a successful run",
    )
    for fragment in fragments:
        assert fragment in out


def test_plan_summary_shows_markup_like_names_as_text(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "[red]x.txt").write_text("x")
    spec = GOOD.replace("matrix: {n: [1, 2, 3, 4, 5, 6, 7]}", "for_each: input")
    spec = spec.replace("{item.n}", "{input.name}") + 'inputs: ["in/*"]\n'
    code, out, err = _invoke("plan", _spec(tmp_path, spec), "--set", "word=[/bold]")
    assert code == 0, err
    assert "echo '[/bold]' '[red]x.txt'" in out


def test_plan_of_a_bad_spec_exits_2(tmp_path: Path) -> None:
    code, _, err = _invoke("plan", _spec(tmp_path, "version: 1\n"))
    assert code == 2 and "missing required key 'name'" in err


def test_schema_command_prints_the_published_schema() -> None:
    code, out, _ = _invoke("schema")
    assert code == 0
    assert json.loads(out) == json.loads((REPO / "schemas" / "batchflow.schema.json").read_text())


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "batchflow", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_real_process_validates_and_never_loads_azure_or_rich() -> None:
    probe = textwrap.dedent(
        """
        import sys
        from batchflow.cli import main
        try:
            main(["validate", "examples/ffmpeg.yaml"])
        except SystemExit as exit:
            heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("azure", "rich"))
            print(exit.code, heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.strip().endswith("0 []"), out.stdout + out.stderr


def test_real_process_reports_bad_yaml_with_exit_2(tmp_path: Path) -> None:
    path = _spec(tmp_path, "a:\n\t- b\n")
    proc = _run("validate", path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{path}:2:1: YAML syntax error")
    assert "Traceback" not in proc.stderr


def test_plan_json_redacts_values_taken_from_the_environment(tmp_path: Path) -> None:
    spec = GOOD + '  environment: {TOKEN: "{env.BF_TEST_TOKEN}", MODE: fast}\n'
    result = CliRunner().invoke(
        cli, ["plan", "--json", _spec(tmp_path, spec)], env={"BF_TEST_TOKEN": "s3cr3t"}
    )
    assert result.exit_code == 0, result.stderr
    assert "s3cr3t" not in result.stdout
    env = json.loads(result.stdout)["tasks"][0]["environment"]
    assert env == {"TOKEN": "<from the environment>", "MODE": "fast"}


HOSTILE_NAMES = ["a b;rm -rf ~.txt", '$(reboot) `id` it\'s "q".txt']


def test_hostile_file_names_run_inert_on_the_local_target(tmp_path: Path) -> None:
    """The quoting contract end to end: the emulator splits command lines as Batch does and
    a real /bin/sh runs them; each file reaches its task as one word, nothing else runs."""
    (tmp_path / "in").mkdir()
    for i, name in enumerate(HOSTILE_NAMES):
        (tmp_path / "in" / name).write_text(f"payload-{i}\n")
    spec = textwrap.dedent(
        """\
        version: 1
        name: hostile
        pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 1}}
        inputs: ["in/*"]
        tasks:
          for_each: input
          id: "t-{input.stem}"
          command: /bin/sh -c "cat -- {input.name} > copy-{input.name}"
          outputs: ["copy-{input.stem}*"]
        download: out/
        cleanup: {job: delete, pool: delete, inputs: delete}
        """
    )
    (tmp_path / "spec.yaml").write_text(spec)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "BATCHFLOW_"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "batchflow", "run", "spec.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for i, name in enumerate(HOSTILE_NAMES):
        assert (tmp_path / "out" / f"copy-{name}").read_text() == f"payload-{i}\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"copy-{n}" for n in HOSTILE_NAMES
    )


def test_endless_and_empty_devices_are_refused_quickly() -> None:
    code, _, err = _invoke("validate", "/dev/zero", "/dev/null")
    assert code == 2
    assert "/dev/zero: is larger than 50 MB; not a spec" in err
    assert "/dev/null:1:1: the spec is empty" in err


def test_validate_refuses_inputs_linked_from_outside(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    root = tmp_path / "spec"
    (root / "in").mkdir(parents=True)
    os.symlink(secret, root / "in" / "b.txt")
    spec = GOOD.replace("matrix: {n: [1, 2, 3, 4, 5, 6, 7]}", "for_each: input")
    spec = spec.replace("{item.n}", "{input.name}") + 'inputs: ["in/*.txt"]\n'
    path = _spec(root, spec)
    code, out, err = _invoke("validate", path)
    assert code == 2 and "valid" not in out
    assert f"{path}:8:10: inputs[0]: 'in/b.txt' is a symbolic link to {secret}" in err


def test_validate_reports_collisions_containers_download_and_durations_together(
    tmp_path: Path,
) -> None:
    spec = GOOD + (
        "  outputs: [r.txt]\n"
        "job: {timeout: 99999999d}\n"
        "containers: {input: same, output: same}\n"
        "download: .\n"
    )
    code, _, err = _invoke("validate", _spec(tmp_path, spec))
    assert code == 2, err
    assert ":8:13: tasks.outputs[0]: tasks 'task0' and 'task1' both write the output 'r.txt'" in err
    assert ":9:16: job.timeout: is longer than 180 days" in err
    assert ":10:13: containers: input and output containers are both 'same'" in err
    assert ":11:11: download: '.' is the spec's directory or holds it" in err
    assert err.count("both write") == 1 and err.endswith("4 problems found.\n")
    assert "Traceback" not in err and "unexpected" not in err


def test_set_values_are_typed_and_bad_ones_are_clean_errors(tmp_path: Path) -> None:
    spec = GOOD.replace("params: {word: hello}", "params: {word: hello, n: 1}")
    spec = spec.replace("{params.word}", "{params.word} {params.n}")
    path = _spec(tmp_path, spec)
    code, out, err = _invoke("plan", "--json", path, "--set", "word=1.10", "--set", "n=010")
    assert code == 0, err
    assert json.loads(out)["tasks"][0]["command"] == "echo 1.10 10 1"
    code, _, err = _invoke("validate", path, "--set", "n=" + "9" * 5000)
    assert code == 2
    assert "params.n: --set n=9999" in err and "more than 100 digits" in err
    assert len(err) < 1000 and "unexpected" not in err


def test_non_ascii_text_is_echoed_as_text(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ünï.txt").write_text("x")
    spec = GOOD.replace("name: demo", "name: démo ü")
    path = _spec(tmp_path, spec)
    code, _, err = _invoke("validate", path)
    assert code == 2 and '"démo ü"' in err and "\\u00" not in err
    code, out, _ = _invoke("validate", "--json", path)
    assert code == 2 and "\\u00" not in out
    assert '"démo ü"' in json.loads(out)["specs"][0]["problems"][0]["message"]
    spec = GOOD.replace("matrix: {n: [1, 2, 3, 4, 5, 6, 7]}", "for_each: input")
    spec = spec.replace("{item.n}", "{input.name}") + 'inputs: ["in/*.txt"]\n'
    code, out, err = _invoke("plan", "--json", _spec(tmp_path, spec))
    assert code == 0, err
    assert "ünï.txt" in out and "\\u00" not in out
    assert json.loads(out)["tasks"][0]["inputs"] == [{"blob": "in/ünï.txt", "path": "ünï.txt"}]


@pytest.mark.parametrize("as_json", [True, False])
def test_plan_into_a_closed_pipe_ends_quietly(tmp_path: Path, as_json: bool) -> None:
    spec = GOOD.replace("[1, 2, 3, 4, 5, 6, 7]", "[" + ", ".join(map(str, range(5000))) + "]")
    args = [sys.executable, "-m", "batchflow", "plan", *(["--json"] if as_json else [])]
    proc = subprocess.Popen(
        [*args, _spec(tmp_path, spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves before the first write, like `| head -c0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_json_stays_valid_for_a_path_that_is_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / os.fsdecode(b"f\xff")
    folder.mkdir()
    path = _spec(folder, GOOD)
    proc = _run("plan", "--json", path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["spec_path"] == path
    proc = _run("validate", "--json", path + "-missing")
    assert proc.returncode == 2 and json.loads(proc.stdout)["specs"][0]["path"] == path + "-missing"
