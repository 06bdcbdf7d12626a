"""Placeholder templates: ``convert-{input.stem}``, ``ffmpeg -i {input.name} ...``.

A template is compiled once into literal text and slots. Each slot knows how its value must be
escaped for where it lands, so a hostile value (``a b;rm -rf ~.mp4``, ``$(reboot)``, quotes,
newlines) is inert:

- ``shell`` (commands): Batch splits a command line into words like a POSIX shell, without
  expanding anything, and a word may be the script of ``sh -c``, itself read by a shell, and so
  on (see ``shellwords``). Each slot's value is quoted for the innermost quoting it sits in,
  then that text for the one outside it, out to the command line: outside quotes it is put in
  single quotes, inside single quotes each ``'`` becomes ``'"'"'``, inside double quotes the
  quote is closed, the value single-quoted, the quote reopened. A file-name value
  ({input.name}, {input.path}, {input.stem}) starting with ``-`` at the start of a word of the
  innermost level is written ``./-x`` so that it cannot be read as an option. Spots where no
  quoting holds (backticks, ``eval``, ``python -c`` code...) are refused.
- ``id``: characters outside ``A-Za-z0-9_-`` become ``_`` (see ``finish_id`` for length).
- ``glob``: ``[``, ``*``, ``?`` are bracketed so a value matches only itself.
- ``raw``: as is (environment values).

``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from batchflow.spec.shellwords import Quoting, spots

Kind = Literal["shell", "id", "glob", "raw"]
Value = str | int | float | bool | None

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{|\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?")
_SLUG = re.compile(r"[^A-Za-z0-9_-]")
_GLOB = re.compile(r"([*?\[])")
_ID_SAFE = re.compile(r"[A-Za-z0-9_-]*").fullmatch
MAX_ID = 64


class TemplateError(Exception):
    """A template cannot be compiled; ``messages`` names every problem in it."""

    def __init__(self, messages: list[str], unknown: list[str]) -> None:
        self.messages = messages
        self.unknown = tuple(unknown)  # the unknown placeholders' names, for suggestions
        super().__init__("; ".join(messages))


def as_text(value: Value) -> str:
    """A param or matrix value as it appears in a rendered template."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def slug(value: str) -> str:
    """Make ``value`` safe inside a Batch id."""
    if _ID_SAFE(value):  # most values: nothing to replace, and a match is cheaper than sub
        return value
    return _SLUG.sub("_", value)


def glob_escape(value: str) -> str:
    """Make ``value`` match only itself in a file pattern."""
    if "*" not in value and "?" not in value and "[" not in value:  # most values
        return value
    return _GLOB.sub(r"[\1]", value)


def quote_all(quote: Callable[[str], str], column: Sequence[str]) -> Sequence[str]:
    """``quote`` of each value of ``column``: the column itself where that leaves every
    value as it is, as one scan of them all tells for the id and glob quotings."""
    if quote is str:
        return column
    if quote is slug and _ID_SAFE("".join(column)):
        return column
    if quote is glob_escape:
        joined = "".join(column)
        if "*" not in joined and "?" not in joined and "[" not in joined:
            return column
    return list(map(quote, column))


# Characters that mean nothing to shlex nor to any shell, at any level, quoted or not (no "=":
# a bare NAME=x as a shell command's first word would be an assignment, =cmd expands in zsh).
_SAFE = re.compile(r"[A-Za-z0-9_@%+:,./-]+").fullmatch
# Whether a value is such text: every quoting here leaves it as it is (but a file name's
# "./" before a leading "-"), and so does JSON.
is_plain = _SAFE


def _plain(value: str) -> str:
    """Outside quotes: one word that reads as ``value``."""
    if _SAFE(value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _sq(value: str) -> str:
    """Inside '...': each ' closes the quote, is given as "'", and reopens it."""
    return value.replace("'", "'\"'\"'")


def _dq(value: str) -> str:
    """Inside "...": close the quote, give the value in single quotes, reopen."""
    if not value or _SAFE(value):
        return value
    return '"' + _plain(value) + '"'


# The same three work for Batch's split of the command line and for every shell under it: the
# text they make reads back as exactly ``value`` in its quoting, expanding nothing.
_ENCODERS: dict[Quoting, Callable[[str], str]] = {"plain": _plain, "sq": _sq, "dq": _dq}
_QUOTERS: dict[str, Callable[[str], str]] = {"id": slug, "glob": glob_escape, "raw": str}
# How long a quoted value can get: len(quote(v)) <= a * len(v) + b. Each encoder makes a "'"
# 5 characters and may add 2 quotes (and 2 double quotes), "./" adds 2, a glob 3 per "*?[".
Growth = tuple[int, int]
_ENCODER_GROWTH: Growth = (5, 4)
_GROWTH: dict[str, Growth] = {"id": (1, 0), "glob": (3, 0), "raw": (1, 0)}


def _shell_growth(chain: tuple[Quoting, ...], file_word: bool) -> Growth:
    """The growth of ``_shell_quoter(chain, file_word)``: each level's, composed."""
    a, b = (1, 2) if file_word else (1, 0)
    ea, eb = _ENCODER_GROWTH
    for _ in chain:
        a, b = ea * a, ea * b + eb
    return a, b


# Placeholders whose values are file names: in a command, one starting with "-" would be read
# as an option (`cat -rf.txt`), so it is given as ./-rf.txt, the same file. A stem starts the
# name of a file a task writes (`{input.stem}.mp3`, `split ... {input.stem}-part-`): the same.
# Values of {item.x} and {params.x} are the user's own and pass as they are.
FILE_PLACEHOLDERS = frozenset({"input.name", "input.path", "input.stem"})


def _not_an_option(value: str) -> str:
    return "./" + value if value.startswith("-") else value


def _shell_quoter(chain: tuple[Quoting, ...], file_word: bool) -> Callable[[str], str]:
    """Quote a value for the innermost quoting in ``chain``, then for each one outside it."""
    encoders = [_ENCODERS[q] for q in reversed(chain)]
    if len(encoders) == 1 and not file_word:
        return encoders[0]  # the common case, as fast as one call

    def quote(value: str) -> str:
        if _SAFE(value):  # every encoder gives a safe value back as it is, and so "./" + it
            return "./" + value if file_word and value[0] == "-" else value
        if file_word:
            value = _not_an_option(value)
        for encode in encoders:
            value = encode(value)
        return value

    return quote


def finish_id(rendered: str) -> str:
    """Keep a rendered id within 64 characters: truncate, then append a stable short hash."""
    if len(rendered) <= MAX_ID:
        return rendered
    import hashlib  # rarely needed; keeps `validate` quick to start

    digest = hashlib.sha256(rendered.encode("utf-8")).hexdigest()[:8]
    return f"{rendered[: MAX_ID - 9]}-{digest}"


class Slot(NamedTuple):
    """A placeholder and the escaping its value gets."""

    name: str
    quote: Callable[[str], str]
    growth: Growth = (1, 0)  # len(quote(v)) <= a * len(v) + b


# name, escaping (None: raw), cache of escaped values (matrix items repeat across tasks)
_CompiledSlot = tuple[str, Callable[[str], str] | None, dict[str, str] | None]


def _is_raw(quote: Callable[[str], str]) -> bool:
    return quote is str


@dataclass(frozen=True)
class Template:
    """A compiled template: literal strings and slots, in order.

    Rendering is on the hot path of a 100,000-task sweep, so the parts are also kept as one
    ``str.format`` pattern with positional fields, and values of matrix items (which repeat
    across tasks) are quoted once per distinct value.
    """

    text: str
    parts: tuple[str | Slot, ...]
    names: frozenset[str] = field(init=False, compare=False)
    _pattern: str = field(init=False, compare=False, repr=False)
    _slots: tuple[_CompiledSlot, ...] = field(init=False, compare=False, repr=False)
    _getter: Callable[[Mapping[str, str]], Any] | None = field(
        init=False, compare=False, repr=False
    )
    _bound: tuple[int, int, int] = field(init=False, compare=False, repr=False)
    _one: tuple[str, Callable[[str], str]] | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        slots = [p for p in self.parts if isinstance(p, Slot)]
        if slots:  # a str.format pattern: literal braces doubled, one {} per slot
            pattern = "".join(
                p.replace("{", "{{").replace("}", "}}") if isinstance(p, str) else "{}"
                for p in self.parts
            )
        else:  # plain text, returned as is
            pattern = "".join(p for p in self.parts if isinstance(p, str))
        compiled: tuple[_CompiledSlot, ...] = tuple(
            (
                s.name,
                None if _is_raw(s.quote) else s.quote,
                {} if s.name.startswith("item.") and not _is_raw(s.quote) else None,
            )
            for s in slots
        )
        # All slots raw (environment values, destinations): one C-level getter does it.
        raw = bool(slots) and all(quote is None for _, quote, _ in compiled)
        names = tuple(s.name for s in slots)
        object.__setattr__(self, "_getter", operator.itemgetter(*names) if raw else None)
        # One quoted slot, not cached ({task.id}.txt, {input.stem}.mp3, name-{index}): the
        # most common template, rendered without the loop.
        first, quote, cache = compiled[0] if len(compiled) == 1 else ("", None, None)
        one = (first, quote) if quote is not None and cache is None else None
        object.__setattr__(self, "_one", one)
        object.__setattr__(self, "names", frozenset(names))
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_slots", compiled)
        literal = sum(len(p) for p in self.parts if isinstance(p, str))
        grow = sum(s.growth[0] for s in slots)
        extra = sum(s.growth[1] for s in slots)
        object.__setattr__(self, "_bound", (literal, grow, extra))

    def bind(self, values: Mapping[str, str]) -> Template:
        """Fill the slots named in ``values`` now (params, env), keeping the others."""
        out: list[str | Slot] = []
        for part in self.parts:
            if isinstance(part, Slot) and part.name in values:
                part = part.quote(values[part.name])
            if isinstance(part, str) and out and isinstance(out[-1], str):
                out[-1] += part
            else:
                out.append(part)
        return Template(self.text, tuple(out))

    def longest(self, values: Mapping[str, str]) -> int:
        """At least ``len(self.render(values))``, found without rendering: each slot's value
        is at most as long as all of ``values`` together, and grows by its quoting."""
        literal, grow, extra = self._bound
        if not grow:
            return literal
        return literal + grow * sum(map(len, values.values())) + extra

    def render_all(self, columns: Mapping[str, Sequence[str]], count: int) -> list[str]:
        """``render`` of ``count`` tasks' values at once: ``columns`` holds each value's
        column (a matrix item's quoted once per value)."""
        if not self._slots:
            return [self._pattern] * count
        quoted: list[Iterable[str]] = []
        for name, quote, cache in self._slots:
            column = columns[name]
            if quote is None:
                quoted.append(column)
            elif cache is None:
                quoted.append(quote_all(quote, column))
            else:
                once = {value: quote(value) for value in set(column)}
                quoted.append(map(once.__getitem__, column))
        return list(map(self._pattern.format, *quoted))

    def longest_for(self, total: int) -> int:
        """``longest`` of any values whose lengths add up to at most ``total``."""
        literal, grow, extra = self._bound
        return literal + grow * total + extra if grow else literal

    def render(self, values: Mapping[str, str]) -> str:
        """The text with every slot filled; ``values`` must name them all."""
        if not self._slots:
            return self._pattern  # literal text, not a format pattern
        if self._getter is not None:
            got = self._getter(values)
            return self._pattern.format(*got) if len(self._slots) > 1 else self._pattern.format(got)
        if self._one is not None:
            return self._pattern.format(self._one[1](values[self._one[0]]))
        args = []
        for name, quote, cache in self._slots:
            value = values[name]
            if quote is None:
                args.append(value)
            elif cache is None:
                args.append(quote(value))
            else:
                quoted = cache.get(value)
                if quoted is None:
                    quoted = cache[value] = quote(value)
                args.append(quoted)
        return self._pattern.format(*args)


def _markers(text: str, count: int) -> list[str]:
    """``count`` characters that do not occur in ``text``, to stand for the slots."""
    out: list[str] = []
    code = 0xF0000  # supplementary private use: never in a real command
    while len(out) < count:
        if chr(code) not in text:
            out.append(chr(code))
        code += 1
    return out


def _shell_slots(
    names: list[str], literals: list[str]
) -> tuple[list[Callable[[str], str]], list[Growth], list[str]]:
    """Each slot's quoting function in a command and its growth, and the command's
    problems."""
    markers = _markers("".join(literals), len(names))
    text = literals[0] + "".join(m + lit for m, lit in zip(markers, literals[1:], strict=True))
    found, problems = spots(text, frozenset(markers))
    quoters: list[Callable[[str], str]] = []
    growths: list[Growth] = []
    for name, marker in zip(names, markers, strict=True):
        spot = found[marker]
        if spot.problem is not None:
            problems.append(f"{{{name}}}: {spot.problem}")
        file_word = name in FILE_PLACEHOLDERS and spot.word_start
        quoters.append(_shell_quoter(spot.chain, file_word))
        growths.append(_shell_growth(spot.chain, file_word))
    return quoters, growths, problems


def compile_template(text: str, kind: Kind, allowed: Callable[[str], bool]) -> Template:
    """Compile ``text``; ``allowed(name)`` says which placeholders this field may use.

    Raises TemplateError naming every unknown placeholder and stray brace.
    """
    literals: list[str] = [""]
    names: list[str] = []
    problems: list[str] = []
    unknown: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        literals[-1] += text[pos : m.start()]
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            literals[-1] += token[0]
        elif m.group(1) is None:
            problems.append(
                f"stray '{token}' at offset {m.start()} (write {token * 2} for a brace)"
            )
        else:
            name = m.group(1).strip()
            if not _NAME.fullmatch(name) or not allowed(name):
                problems.append(f"unknown placeholder {{{name}}}")
                unknown.append(name)
            names.append(name)
            literals.append("")
    literals[-1] += text[pos:]
    if kind == "shell":
        quoters, growths, shell_problems = _shell_slots(names, literals)
        problems += shell_problems
    else:
        quoters = [_QUOTERS[kind]] * len(names)
        growths = [_GROWTH[kind]] * len(names)
    if problems:
        raise TemplateError(problems, unknown)
    parts: list[str | Slot] = []
    for i, lit in enumerate(literals):
        if i:
            parts.append(Slot(names[i - 1], quoters[i - 1], growths[i - 1]))
        if lit:
            parts.append(lit)
    return Template(text, tuple(parts))


def names_in(prefix: str, known: Collection[str]) -> Callable[[str], bool]:
    """An ``allowed`` predicate: ``prefix.<one of known>``."""
    return lambda name: name.startswith(prefix + ".") and name[len(prefix) + 1 :] in known
