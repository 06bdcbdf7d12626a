"""Hostile values through nested ``sh -c``/``bash -c`` quoting, whole runs on the local target:
each task's innermost program prints its arguments' bytes (in hex) and the test compares."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import batchflow, write_spec
from tests.e2e.test_runs import POOL
from tests.spec.test_spec_nesting import HOSTILE

# `HEX` stands for the printer: one line per call, each argument's bytes in hex, space-separated.
# Each line of COMMAND is one call at its own depth; EXPECT gives each call's arguments: "" is
# the value alone, "a|b" the value between a and b. The last call prints {params.p} (--set).
COMMAND = (
    '/bin/sh -c "'
    "HEX {V} '{V}' \\\"{V}\\\" a{V}b;"
    " bash -c 'HEX {V} \\\"{V}\\\" x{V}y';"
    " bash -euc \\\"HEX '{V}' {V}\\\";"
    " env A=1 bash -c 'sh -c \\\"HEX {V} '\\\\''{V}'\\\\''\\\"';"
    " HEX \\\"$(printf %s '{V}'; echo .)\\\";"
    " bash -c 'HEX \\\"{params.p}\\\" {params.p}'"
    '"'
)
EXPECT = [["", "", "", "a|b"], ["", "", "x|y"], ["", ""], ["", ""], ["|."]]
_PRINTER = "import os, sys\nprint(' '.join(os.fsencode(a).hex() for a in sys.argv[1:]))\n"


def _yaml(text: str) -> str:
    """``text`` as a YAML double-quoted scalar, every non-plain character escaped."""
    return (
        '"'
        + "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\U{ord(c):08x}" for c in text)
        + '"'
    )


def _printer(root: Path, command: str) -> str:
    """``command`` with HEX made the printer's command line."""
    printer = root / "hex.py"
    printer.write_text(_PRINTER, encoding="utf-8")
    return command.replace("HEX", f"{sys.executable} -S {printer}")


def _command(root: Path, placeholder: str) -> str:
    return _yaml(_printer(root, COMMAND).replace("{V}", placeholder))


def _check(stdout: str, value: str, param: str) -> None:
    lines = stdout.splitlines()
    assert len(lines) == len(EXPECT) + 1, (value, stdout)
    assert lines[-1] == f"{param.encode().hex()} {param.encode().hex()}"
    for line, expect in zip(lines, EXPECT, strict=False):
        want = [(e.replace("|", value) if e else value).encode().hex() for e in expect]
        assert line.split(" ") == want, (value, line)


def _run_matrix(root: Path, values: list[str], param: str = "p") -> None:
    write_spec(
        root,
        "nest",
        f"""
version: 1
name: nest
params: {{p: x}}
{POOL}
tasks:
  matrix:
    v: [{", ".join(_yaml(v) for v in values)}]
  command: {_command(root, "{item.v}")}
  print_stdout: true
cleanup: {{job: delete, pool: delete, inputs: keep}}
""",
    )
    res = batchflow("run", "nest.yaml", "--json", "--set", f"p={param}", cwd=root)
    assert res.code == 0, res.stderr + res.stdout
    outputs = {o["task"]: o["stdout"] for o in res.json()["stdout"]}
    for i, value in enumerate(values):
        _check(outputs[f"task{i}"], value, param)


def test_hostile_matrix_values_reach_the_innermost_program_intact(tmp_path: Path) -> None:
    values = [*HOSTILE, "", 'it\'s a "test" $(id -un) `id` ; & | \\ -x', "new\nline"]
    _run_matrix(tmp_path, values, '--set\'s "value" $(id -un) `id`; a&b|c\\\n\t\U0001f600')


@settings(max_examples=3, deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12),
        min_size=1,
        max_size=12,
        unique=True,
    )
)
def test_any_matrix_values_reach_the_innermost_program_intact(values: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run_matrix(Path(tmp), values)


def test_hostile_input_names_reach_the_innermost_program_intact(tmp_path: Path) -> None:
    names = [
        "$(id -un)x.txt",
        "-rf.txt",
        'it\'s "q".txt',
        "`id`;a&b|c.txt",
        "\u00fc\U0001f600 \\.txt",
    ]
    (tmp_path / "in").mkdir()
    for name in names:
        (tmp_path / "in" / name).write_text("x", encoding="utf-8")
    inner = "echo 'processing {input.name}'; HEX {input.name} \\\"{input.name}\\\" x{input.name}"
    write_spec(
        tmp_path,
        "names",
        f"""
version: 1
name: names
{POOL}
inputs: [in/*.txt]
tasks:
  for_each: input
  command: {_yaml(_printer(tmp_path, f'/bin/sh -c "{inner}"'))}
  print_stdout: true
cleanup: {{job: delete, pool: delete, inputs: keep}}
""",
    )
    res = batchflow("run", "names.yaml", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr + res.stdout
    printed = sorted(o["stdout"] for o in res.json()["stdout"])
    expected = []
    for name in names:
        safe = "./" + name if name.startswith("-") else name
        hexes = [safe.encode().hex(), safe.encode().hex(), ("x" + name).encode().hex()]
        expected.append(f"processing {name}\n{' '.join(hexes)}")
    assert printed == sorted(expected)
    assert "processing $(id -un)x.txt" in "".join(printed)  # the example
