"""Templates: hostile values stay one inert word, for the splitter and for an inner shell."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchflow.spec.shellwords import Quoting
from batchflow.spec.templates import (
    _ENCODERS,
    _SLUG,
    MAX_ID,
    TemplateError,
    _shell_quoter,
    compile_template,
    finish_id,
    glob_escape,
    slug,
)

HOSTILE = [
    "a b;rm -rf ~.mp4",
    "$(reboot)",
    "`reboot`",
    "it's",
    'say "hi"',
    "back\\slash",
    "new\nline",
    "tab\tthere",
    "ünïcödé ✓.mp4",
    "-rf",
    "",
    "$HOME",
    "'\"'\"",
    'a\\"b$`\\',
    "*?[x]",
    "{index}",
    "%s %d",
]
# File names as a file system would allow them: any text but NUL and "/".
file_names = st.text(
    st.characters(exclude_characters="\x00/", exclude_categories=["Cs"]), min_size=1
)
# A program that reports the arguments it received; its path needs no quoting.
_SCRIPT = Path(tempfile.mkdtemp(prefix="argv")) / "argv.py"
_SCRIPT.write_text("import sys\nsys.stdout.write(repr(sys.argv[1:]))\n", encoding="utf-8")
PRINTER = f"{sys.executable} {_SCRIPT}"
assert shlex.split(PRINTER) == [sys.executable, str(_SCRIPT)]


def _any(name: str) -> bool:
    return True


def _render(text: str, value: str) -> str:
    return compile_template(text, "shell", _any).render({"v": value})


def _argv(command: str) -> list[str]:
    out = subprocess.run(shlex.split(command), capture_output=True, text=True, check=True)
    return list(eval(out.stdout))  # the printer writes repr() of a list of str


@pytest.mark.parametrize("value", HOSTILE)
def test_unquoted_placeholder_is_one_word(value: str) -> None:
    assert shlex.split(_render("prog {v} x{v}.mp3", value)) == ["prog", value, f"x{value}.mp3"]


@pytest.mark.parametrize("value", HOSTILE)
def test_placeholder_inside_sh_c_double_quotes_reaches_the_program_intact(value: str) -> None:
    command = _render(f'/bin/sh -c "{PRINTER} {{v}} && true"', value)
    words = shlex.split(command)
    assert words[:2] == ["/bin/sh", "-c"] and len(words) == 3
    assert _argv(command) == [value]


@pytest.mark.parametrize("value", HOSTILE)
def test_placeholder_inside_sh_c_single_quotes_reaches_the_program_intact(value: str) -> None:
    command = _render(f"/bin/sh -c '{PRINTER} {{v}}'", value)
    assert len(shlex.split(command)) == 3
    assert _argv(command) == [value]


@settings(max_examples=25, deadline=None)
@given(file_names)
def test_any_file_name_survives_both_splits(name: str) -> None:
    assert shlex.split(_render("prog {v}", name)) == ["prog", name]
    assert _argv(_render(f'/bin/sh -c "{PRINTER} {{v}}"', name)) == [name]
    assert _argv(_render(f"/bin/sh -c '{PRINTER} {{v}}'", name)) == [name]


@settings(max_examples=200, deadline=None)
@given(file_names)
def test_ids_from_any_name_are_valid_and_stable(name: str) -> None:
    tmpl = compile_template("convert-{v}", "id", _any)
    rendered = finish_id(tmpl.render({"v": name}))
    assert len(rendered) <= MAX_ID
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in rendered)
    assert rendered == finish_id(tmpl.render({"v": name}))


def test_long_ids_are_cut_with_a_hash_that_tells_them_apart() -> None:
    a, b = finish_id("x" * 70 + "a"), finish_id("x" * 70 + "b")
    assert len(a) == len(b) == MAX_ID and a != b
    assert finish_id("short") == "short"


def test_slug_and_glob_escape() -> None:
    assert slug("a b;c.mp4") == "a_b_c_mp4"
    assert glob_escape("a*b?[c].mp3") == "a[*]b[?][[]c].mp3"


# Values mostly of the characters the quoters' shortcuts pass as they are, some not.
near_safe = st.text(st.sampled_from("aZ09_@%+:,./-*?[ '\"$=\\é"), max_size=8)
QUOTINGS: tuple[Quoting, ...] = ("plain", "sq", "dq")
chains = st.lists(st.sampled_from(QUOTINGS), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(near_safe, chains, st.booleans())
def test_quoting_shortcuts_give_what_the_encoders_give(
    value: str, chain: list[Quoting], file_word: bool
) -> None:
    expected = "./" + value if file_word and value.startswith("-") else value
    for quoting in reversed(chain):  # innermost first
        expected = _ENCODERS[quoting](expected)
    assert _shell_quoter(tuple(chain), file_word)(value) == expected
    assert slug(value) == _SLUG.sub("_", value)
    assert glob_escape(value) == "".join(f"[{c}]" if c in "*?[" else c for c in value)


COMMANDS = [
    "prog {v} x{v}.mp3",
    "/bin/sh -c \"cat {input.name} > '{v}'\"",
    'sh -c "bash -c \'sh -c \\"echo {v} {input.name}\\"\'"',
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(COMMANDS), near_safe, near_safe)
def test_the_length_bound_holds_for_any_values(text: str, value: str, name: str) -> None:
    tmpl = compile_template(text, "shell", _any)
    values = {"v": value, "input.name": name, "index": "7"}
    assert len(tmpl.render(values)) <= tmpl.longest(values)
    for kind in ("id", "glob", "raw"):
        other = compile_template("a{v}b{input.name}", kind, _any)  # type: ignore[arg-type]
        assert len(other.render(values)) <= other.longest(values)


def test_raw_values_and_literal_braces() -> None:
    tmpl = compile_template("{{literal}} {v} }}", "raw", _any)
    assert tmpl.render({"v": "$x {y}"}) == "{literal} $x {y} }"


def test_bind_fills_some_slots_now_and_leaves_the_rest() -> None:
    tmpl = compile_template("run {params.x} {v}", "shell", _any).bind({"params.x": "a b"})
    assert tmpl.names == frozenset({"v"})
    assert shlex.split(tmpl.render({"v": "c d"})) == ["run", "a b", "c d"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cat {nope}", "unknown placeholder {nope}"),
        ("cat {input.nam}", "unknown placeholder {input.nam}"),
        ("cat {a b}", "unknown placeholder {a b}"),
        ("a { b", "stray '{'"),
        ("a } b", "stray '}'"),
        ("sh -c 'echo {v}", "unterminated ' quote"),
        ('sh -c "echo {v}', 'unterminated " quote'),
        ("echo \\{v}", "a placeholder cannot follow a backslash"),
    ],
)
def test_template_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(text, "shell", lambda n: n == "v")
    assert any(message in m for m in info.value.messages), info.value.messages


def test_all_unknown_placeholders_are_reported_at_once() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template("{a} {b} {v}", "shell", lambda n: n == "v")
    assert info.value.messages == ["unknown placeholder {a}", "unknown placeholder {b}"]
