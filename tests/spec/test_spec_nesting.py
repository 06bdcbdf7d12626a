"""Placeholders stay inert at every quoting depth: Batch's split (shlex), then each ``sh -c`` /
``bash -c`` under it, in single or double quotes or none; or the template is refused."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchflow.spec.templates import TemplateError, compile_template

# Each form runs `printf %s VALUE` (a builtin of dash and bash; /usr/bin/printf at level 0),
# which writes the bytes of the argument it got and nothing else. `{x}` is the placeholder.
FORMS = [
    "printf %s {x}",
    "printf %s a{x}b",
    "printf %s '{x}'",
    'printf %s "{x}"',
    "/bin/sh -c \"printf %s '{x}'\"",
    "/bin/sh -c 'printf %s \"{x}\"'",
    'sh -c "printf %s {x}"',
    "sh -c 'printf %s {x}'",
    'bash -c "printf %s \\"{x}\\""',
    "bash -c \"printf %s 'a{x}b'\"",
    "bash -c 'printf %s x\"{x}\"y'",
    "sh -c \"bash -c 'printf %s {x}'\"",
    'sh -c "bash -c \'printf %s \\"{x}\\"\'"',
    'bash -c \'sh -c "printf %s \\"{x}\\""\'',
    'sh -c "bash -c \'sh -c \\"printf %s {x}\\"\'"',
    'sh -c "bash -c \'sh -c \\"printf %s \\\\\\"{x}\\\\\\"\\"\'"',
    'sh -c "printf %s \\"$(printf %s \'{x}\'; echo .)\\""',
    'bash -c \'printf %s "$(printf %s "{x}"; echo .)"\'',
    # a case pattern's ")" inside $(...) does not end the substitution
    'sh -c "printf %s \\"$(case a in a) printf %s \'{x}\';; esac; echo .)\\""',
    'bash -c \'printf %s "$(case a in (a|b) printf %s "{x}";; esac; echo .)"\'',
    "env A=1 timeout 30 bash -euxc \"printf %s '{x}'\"",
    "bash -o pipefail -c 'printf %s \"{x}\"'",
    'bash --norc -ec "test -n 1 && printf %s {x}"',
    "busybox sh -c \"printf %s '{x}'\"",
]
HOSTILE = [
    "'",
    '"',
    "$(id -un)",
    "`id -un`",
    "${HOME}",
    "$HOME",
    ";",
    "&",
    "|",
    "\n",
    "\t",
    "\\",
    "-",
    "--rf",
    "*",
    "~",
    "#",
    " ",
    "ü",
    "\U0001f600",
    "=",
    "!",
    "%s",
    "$'\\x41'",
    "'\"'\"",
    "\\'",
    '\\"',
    "a=b",
    "{",
    "}",
    "\r",
]
values = st.lists(
    st.one_of(
        st.sampled_from(HOSTILE),
        st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    ),
    max_size=8,
).map("".join)


def _any(name: str) -> bool:
    return True


def _run(form: str, value: str, name: str = "x") -> bytes:
    text = form.replace("{x}", "{" + name + "}")
    command = compile_template(text, "shell", _any).render({name: value})
    argv = shlex.split(command)  # how Batch (the emulator) makes argv from the command line
    done = subprocess.run(argv, capture_output=True, check=False, timeout=30)
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


def _has(program: str) -> bool:
    import shutil

    return shutil.which(program) is not None


def _expected(form: str, value: str) -> bytes:
    out = value.encode()
    if "a{x}b" in form:
        out = b"a" + out + b"b"
    if 'x"{x}"y' in form:
        out = b"x" + out + b"y"
    if "echo ." in form:  # $(...) keeps the value, then "." and a newline that it strips
        out += b"."
    return out


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("value", [*HOSTILE, "", 'it\'s a "test" $(id) `id` ; & | \\ -x'])
def test_each_hostile_value_reaches_the_program_intact(form: str, value: str) -> None:
    if form.startswith("busybox") and not _has("busybox"):
        pytest.skip("no busybox here")
    assert _run(form, value) == _expected(form, value)


@settings(max_examples=40, deadline=None)
@given(values)
def test_any_value_through_any_nesting(value: str) -> None:
    for form in FORMS:
        if form.startswith("busybox") and not _has("busybox"):
            continue
        assert _run(form, value) == _expected(form, value), form


def test_the_issues_example_prints_the_name_not_the_user() -> None:
    out = _run("/bin/sh -c \"echo 'processing {x}'\"", "$(id -un)x.txt", "input.name")
    assert out == b"processing $(id -un)x.txt\n"


@pytest.mark.parametrize(
    "form",
    [
        "/bin/sh -c \"printf %s '{x}'\"",
        "sh -c \"bash -c 'printf %s {x}'\"",
        "bash -c 'printf %s \"{x}\"'",
        "printf %s {x}",
    ],
)
def test_a_file_name_starting_with_a_dash_is_not_an_option_at_the_innermost_level(
    form: str,
) -> None:
    assert _run(form, "-rf.txt", "input.name") == b"./-rf.txt"
    assert _run(form.replace("%s ", "%s a"), "-rf.txt", "input.name") == b"a-rf.txt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("echo \\{x}", "cannot follow a backslash"),
        ('sh -c "echo \\\\{x}"', "cannot follow a backslash"),
        ("sh -c 'echo `cat {x}`'", "inside backticks"),
        ('sh -c "echo \\"`cat {x}`\\""', "inside backticks"),
        ("bash -c \"echo $'{x}'\"", "inside $'...'"),
        ("sh -c 'echo ${{HOME:-{x}}}'", "inside ${...}"),
        ("sh -c 'echo $(( {x} + 1 ))'", "inside $((...))"),
        ("sh -c 'echo $(({x}))'", "inside $((...))"),
        ("sh -c 'true # {x}'", "in a shell comment"),
        ("sh -c 'cat <<EOF\n{x}\nEOF'", "here-document"),
        ("sh -c 'cat <<EOF; echo {x}'", "here-document"),
        ("sh -c 'eval echo {x}'", "argument of eval"),
        ("sh -c \"trap 'echo {x}' EXIT\"", "argument of trap"),
        ("sh -c 'echo ${x}'", "cannot follow $"),
        ('sh -c "sh -c \\"$(echo {x})\\""', "inside $(...) in a shell's script"),
        ("python3 -c \"print('{x}')\"", "code given to python3"),
        ('sh -c "python3.12 -Ic \'print(1, \\"{x}\\")\'"', "code given to python3.12"),
        ("perl -e 'print \"{x}\"'", "code given to perl"),
        ("perl -ne'print \"{x}\"'", "code given to perl"),
        ("ruby -e 'puts \"{x}\"'", "code given to ruby"),
        ("node -e 'console.log(\"{x}\")'", "code given to node"),
        ("node --eval='console.log(\"{x}\")'", "code given to node"),
        ("php -r 'echo \"{x}\";'", "code given to php"),
        ("Rscript -e 'cat(\"{x}\")'", "code given to Rscript"),
        ("awk -F, '{{print \"{x}\"}}' f", "code given to awk"),
        ("sh -c 'echo \"{x}'", 'unterminated " quote in a shell script'),
        ('sh -c "bash -c \'echo {x}"', "unterminated ' quote in a shell script"),
        ("sh -c 'echo $(cat {x}'", "unterminated $("),
        ("sh -c 'echo `{x}'", "inside backticks"),
        ("{y} -c \"echo '{x}'\"", "named by a placeholder"),
        ("sh -c \"{y} -c 'echo {x}'\"", "named by a placeholder"),
        ("{y} -c {x}", "named by a placeholder"),
        ("{y} --eval={x}", "named by a placeholder"),
    ],
)
def test_spots_no_quoting_can_make_inert_are_refused(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(text, "shell", lambda n: n in ("x", "y"))
    assert any(message in m for m in info.value.messages), info.value.messages
    assert all(m.startswith("{x}: ") for m in info.value.messages), info.value.messages


@pytest.mark.parametrize(
    "text",
    [
        "sh -c 'cat \"$1\"' sh {x}",
        "python3 -c 'import sys; print(sys.argv[1])' {x}",
        "python3 script.py -c {x}",
        "awk -v v={x} 'BEGIN {{print v}}'",
        "sh -c 'echo \"$(cat {x})\"'",
        "sh -c 'cat <<<{x}'",
        "echo '`{x}`' '$({x})' '${{{x}}}' \"#{x}\"",
        "sh -c 'echo a#{x}'",
        "sh -c 'true # a comment' && echo {x}",
        "{y} --input {x}",
    ],
)
def test_safe_ways_to_write_them_are_accepted(text: str) -> None:
    compile_template(text, "shell", lambda n: n in ("x", "y"))


REFUSED = {
    "backticks": "sh -c 'echo `cat {params.x}`'",
    "ansi": "bash -c \"echo $'{params.x}'\"",
    "braces": "sh -c 'echo ${{HOME:-{params.x}}}'",
    "arith": "sh -c 'echo $(( {params.x} ))'",
    "comment": "sh -c 'true # {params.x}'",
    "heredoc": "sh -c 'cat <<EOF; echo {params.x}'",
    "eval": "sh -c 'eval echo {params.x}'",
    "python": "python3 -c 'print(\"{params.x}\")'",
    "backslash": "sh -c 'echo \\{params.x}'",
}


def test_validate_refuses_each_spot_located_with_how_to_write_it(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from batchflow.cli import cli

    paths = []
    for name, command in REFUSED.items():
        path = tmp_path / f"{name}.yaml"
        body = (
            "version: 1\nname: demo\nparams: {x: v}\n"
            "pool: {vm_size: a, image: ubuntu-22.04, nodes: {dedicated: 1}}\n"
            f"tasks:\n  list:\n    - id: a\n      command: {json.dumps(command)}\n"
        )
        path.write_text(body, encoding="utf-8")
        paths.append(str(path))
    result = CliRunner().invoke(cli, ["validate", *paths], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    for name in REFUSED:
        line = next(x for x in result.stderr.splitlines() if f"{name}.yaml:" in x)
        assert f"{name}.yaml:8:16: tasks.list[0].command: {{params.x}}: a placeholder" in line
        assert "pass it as an argument" in line or "remove the backslash" in line, line
    assert "Traceback" not in result.output
