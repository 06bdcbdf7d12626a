"""Per-task checks decided once per template, from its structure and its placeholders' values.

``check_tasks`` renders every task and checks it; on a 100,000-task step most of that is
spent proving, task after task, what holds for all of them: ids made of safe text are valid,
``step-{index}`` never repeats, a short command stays short, ``{task.id}.txt`` neither leaves
the working directory nor lands on another task's blob. Each proof here is a sufficient
condition, checked on the template and on what is known of each placeholder's values
(``Values``): where it holds, no task can fail that check, so it is skipped; where it does
not, the check runs per task as before, so every error is still found and said the same way.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, cast

from batchflow.spec.model import OutputSpec, TasksSpec, TaskTemplate
from batchflow.spec.templates import MAX_ID, Slot, Template, quote_all, slug

_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
_DIGITS = frozenset(string.digits)
_WILD = frozenset("*?[")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


def blob_name(pattern: str, destination: str) -> str | None:
    """The blob a wildcard-free output pattern is stored as (None for a wildcard pattern).

    Batch's rule, as ``engine.bodies.output_blob_path`` sends it: for a single file,
    ``destination`` is a prefix; a leading ``../`` names the file above the working directory.
    """
    if "*" in pattern or "?" in pattern or "[" in pattern:  # a wildcard; no regex: per task
        return None
    while pattern.startswith("../"):
        pattern = pattern[3:]
    # posixpath.join's rule, spelled out: this runs once per output of every task.
    if not destination or pattern.startswith("/"):
        return pattern
    return destination + pattern if destination.endswith("/") else f"{destination}/{pattern}"


def escapes(value: str) -> bool:
    """Absolute, or climbing out with '..'; a backslash counts as a separator too, as it does
    on Windows nodes."""
    if value.startswith(("/", "\\")):
        return True
    if ".." in value and ".." in value.replace("\\", "/").split("/"):
        return True
    return value[1:2] == ":" and bool(_DRIVE.match(value))  # the cheap test first: per task


class Values(NamedTuple):
    """What is known of one placeholder's values over every task of a template."""

    longest: int  # no value is longer
    path_safe: bool  # each is non-empty, holds no '/', '\\' nor ':', and is not all dots
    id_chars: frozenset[str] | None  # the characters of the values slugged and lower-cased
    apart: bool  # its values differ from each other, even slugged and lower-cased
    nonempty: bool
    per_task: bool = False  # no two tasks have the same value
    undotted: bool = False  # no value starts with '.'


def _path_safe(value: str) -> bool:
    return (
        bool(value)
        and "/" not in value
        and "\\" not in value
        and ":" not in value
        and value.strip(".") != ""
    )


def _index(count: int) -> Values:
    return Values(len(str(max(count - 1, 0))), True, _DIGITS, True, True, True, True)


def _axis(axis: Sequence[str]) -> Values:
    slugged = [slug(v).lower() for v in axis]
    chars = frozenset("".join(slugged))
    return Values(
        max(map(len, axis), default=0),
        all(map(_path_safe, axis)),
        chars,
        len(set(slugged)) == len(axis),
        all(axis),
        undotted=not any(v.startswith(".") for v in axis),
    )


def file_values(paths: Sequence[str], prefix: str = "") -> dict[str, Values]:
    """``Values`` of ``{input.*}`` over files whose ``{input.path}`` is each of ``paths``
    without ``prefix``: a few scans of all of them joined, not a step per file."""
    joined = "\0".join(paths)
    longest = max(map(len, paths), default=0)
    # A NUL inside a name would hide a file's boundary: then nothing is proven; nor if one
    # does not start with ``prefix`` (counted once no name holds a NUL).
    sound = (
        joined.count("\0") == max(len(paths) - 1, 0)
        and joined.startswith(prefix)
        and joined.count("\0" + prefix) == max(len(paths) - 1, 0)
    )
    named = sound and _names_safe(joined)
    # {input.path} is the name itself where no path has a folder below ``prefix``.
    flat = named and joined.count("/") == len(paths) * prefix.count("/")
    names = flat and len(set(paths)) == len(paths)  # then no two tasks share a name
    unknown = Values(longest, False, None, False, False)
    return {
        # ``named``: no part of a path starts with '.', so neither does a name nor a stem
        "input.name": unknown._replace(
            path_safe=named, nonempty=named, per_task=names, undotted=named
        ),
        "input.stem": unknown._replace(
            path_safe=named,
            nonempty=named,
            per_task=names and _one_suffix(joined, paths, prefix),
            undotted=named,
        ),
        "input.suffix": unknown,
        "input.path": unknown._replace(
            path_safe=flat, nonempty=named, per_task=names, undotted=named
        ),
    }


def _names_safe(joined: str) -> bool:
    """A file's value ({input.name}, {input.stem}) is safe in a path when no part of a path
    starts with "." (so no name is "." or "..", nor all dots), no path is empty nor ends
    with "/", and none holds "\\" or ":" (``joined``: the paths joined by NUL; substring
    scans, each far quicker than one regex over it all)."""
    return not (
        not joined
        or "\\" in joined
        or ":" in joined
        or joined.startswith((".", "\0"))
        or joined.endswith(("/", "\0"))
        or "/." in joined
        or "\0." in joined
        or "/\0" in joined
        or "\0\0" in joined
    )


def _one_suffix(joined: str, paths: Sequence[str], prefix: str) -> bool:
    """Every name of ``joined`` (``paths``, each ``prefix`` and a name, joined by NUL) holds
    one '.', followed by the same suffix: each stem is its name less that suffix."""
    if not paths:
        return False
    suffix = "." + paths[0].rpartition(".")[2]
    return (
        suffix != "."
        and joined.count(".") == len(paths) * (1 + prefix.count("."))
        and joined.endswith(suffix)
        and joined.count(suffix + "\0") == len(paths) - 1
    )


def domains(
    tasks: TasksSpec, count: int, files: dict[str, Values] | None
) -> dict[str, Values] | None:
    """What is known of every value a task of ``tasks`` has but ``task.id`` (None where
    its files' values are not known: nothing is proven then)."""
    if tasks.mode == "list" or (tasks.mode in ("input", "outputs") and files is None):
        return None
    known = {"index": _index(count)}
    for key, axis in tasks.matrix:
        known[f"item.{key}"] = _axis(axis)
    known.update(files or {})
    return known


def _slots(t: Template) -> list[Slot]:
    return [p for p in t.parts if isinstance(p, Slot)]


def _literal(t: Template) -> str:
    return "".join(p for p in t.parts if isinstance(p, str))


def _ids_valid(t: Template, known: Mapping[str, Values]) -> bool:
    """Every id is a valid Batch id: safe literal text, never empty, and (with placeholders,
    whose values are slugged) cut to 64 characters by ``finish_id``."""
    literal = _literal(t)
    if not set(literal) <= _ID_CHARS or any(s.quote is not slug for s in _slots(t)):
        return False
    if not t.names:
        return 1 <= len(literal) <= MAX_ID
    return bool(literal) or any(n in known and known[n].nonempty for n in t.names)


def _ids_unique(t: Template, known: Mapping[str, Values], axes: Sequence[str] | None) -> bool:
    """No two ids are equal ignoring case: the id reads back as its values (each slot's values
    lack the first character of the literal after it), those tell the tasks apart (the
    index, or every axis of the matrix that has more than one value: ``axes``, None without
    a matrix), and none is cut short."""
    slots = _slots(t)
    names = [s.name for s in slots]
    if len(set(names)) != len(names) or not all(n in known for n in names):
        return False
    if "index" not in names and (axes is None or not set(axes) <= set(names)):
        return False
    if any(not known[n].apart or known[n].id_chars is None for n in names):
        return False
    if len(_literal(t)) + sum(known[n].longest for n in names) > MAX_ID:
        return False
    for slot, after in zip(slots, _following(t), strict=True):
        chars = known[slot.name].id_chars
        if after is not None and (not after or chars is None or after[0].lower() in chars):
            return False  # where the value ends is not known
    return True


def _following(t: Template) -> list[str | None]:
    """The literal text between each slot of ``t`` and the next one (None after the last:
    its value is what lies between the text before it and the fixed text at the end)."""
    after: list[str] = []
    for part in t.parts:
        if isinstance(part, Slot):
            after.append("")
        elif after:
            after[-1] += part
    return [*after[:-1], None] if after else []


def _stays_inside(t: Template, known: Mapping[str, Values]) -> bool:
    """No value of ``t`` leaves the working directory: each placeholder's values are safe in
    a path, and then the text with "x" for each one tells for all (no value adds a separator,
    a drive's ':' or a '..' of its own, and a one-letter value at the start is the worst)."""
    if not all(n in known and known[n].path_safe for n in t.names):
        return False
    return not escapes(t.render(dict.fromkeys(t.names, "x")))


def _single(o: OutputSpec) -> bool:
    """The output may name one file for some task (no wildcard in its literal text)."""
    return not _WILD & set(_literal(o.pattern))


def _never_collides(
    o: OutputSpec, outputs: Sequence[OutputSpec], known: Mapping[str, Values]
) -> bool:
    """No two tasks write ``o``'s blob: it names one placeholder, once, whose values differ
    per task and are safe in a path (no '/': the blob is the same text around each value,
    escaped the same way, or no single file where a value brings a wildcard), and no other
    output of the task may name a single file."""
    if not _single(o):
        return True  # always a wildcard: never a single blob
    if any(p is not o and _single(p) for p in outputs):
        return False
    slots = [*_slots(o.pattern), *_slots(o.destination)]
    if len(slots) != 1:
        return False
    v = known.get(slots[0].name)
    return v is not None and v.per_task and v.path_safe


def _never_reserved(o: OutputSpec, known: Mapping[str, Values]) -> bool:
    """No task stores ``o`` under ``.batchflow/``: where it is stored (its destination, else
    its pattern past a leading '../') never starts with '.': it starts with literal text that
    does not, or with a placeholder whose values are never empty and never start with one."""
    t = o.destination if o.destination.parts else o.pattern
    first = t.parts[0] if t.parts else ""
    if isinstance(first, Slot):
        v = known.get(first.name)
        return v is not None and v.nonempty and v.undotted
    if t is o.pattern:
        while first.startswith("../"):
            first = first[3:]
    return bool(first) and not first.startswith(".")


Produced = Callable[[dict[str, str]], tuple[str, ...]]


Columns = Mapping[str, Sequence[str]]  # each placeholder's values, task after task


class _Blob:
    """The blob one output of a task is stored as (None: a wildcard), from its values: of
    one task (``one``) or of all of them at once (``all``, from each value's column).

    With one placeholder whose values are safe in a path, the blob is the same text around
    the value quoted: no value moves where a leading '../' ends, nor adds or takes a '/'
    (``_never_collides`` says the same), and only a glob-quoted value with a wildcard
    (then holding '[') makes it no single file. Otherwise each blob is rendered."""

    __slots__ = ("after", "before", "fixed", "name", "o", "quote", "wild")

    def __init__(self, o: OutputSpec, known: Mapping[str, Values]) -> None:
        self.o = o
        self.fixed: str | None = None
        self.name = ""  # "": rendered, unless ``fixed``
        self.before = self.after = ""
        self.quote: Callable[[str], str] = str
        self.wild = False
        pattern, destination = o.pattern, o.destination
        slots = [*_slots(pattern), *_slots(destination)]
        if not slots:
            self.fixed = blob_name(pattern.render({}), destination.render({}))
            return
        name = slots[0].name
        if len(slots) > 1 or name not in known or not known[name].path_safe:
            return
        text = pattern.text + destination.text
        mark = next(chr(c) for c in range(0xF0000, 0xF0100) if chr(c) not in text)
        shape = blob_name(pattern.render({name: mark}), destination.render({name: mark}))
        if shape is None or mark not in shape:  # a pattern from "/" leaves its destination out
            self.fixed = shape
            return
        self.name = name
        self.before, self.after = shape.split(mark)
        self.quote = slots[0].quote
        self.wild = name in pattern.names

    def one(self, values: dict[str, str]) -> str | None:
        if not self.name:
            if self.fixed is not None:
                return self.fixed
            return blob_name(self.o.pattern.render(values), self.o.destination.render(values))
        x = self.quote(values[self.name])
        return None if self.wild and "[" in x else self.before + x + self.after

    def all(self, columns: Columns, count: int) -> list[str | None]:
        if not self.name:
            if self.fixed is not None:
                return [self.fixed] * count
            patterns = self.o.pattern.render_all(columns, count)
            destinations = self.o.destination.render_all(columns, count)
            return list(map(blob_name, patterns, destinations))
        before, after = self.before, self.after
        column = columns[self.name]
        quoted = quote_all(self.quote, column)
        if self.wild and quoted is not column:  # glob-quoted: some may hold a wildcard
            return [None if "[" in x else before + x + after for x in quoted]
        return [before + x + after for x in quoted]


def _blobs(t: TaskTemplate, known: Mapping[str, Values]) -> list[_Blob]:
    """One per output of ``t`` that may name a single file uploaded on success."""
    return [_Blob(o, known) for o in t.outputs if o.when != "taskfailure" and _single(o)]


def producer(t: TaskTemplate, known: Mapping[str, Values]) -> Produced:
    """The blobs a task of ``t`` uploads on success (single files), from its values."""
    blobs = [b.one for b in _blobs(t, known)]
    if not blobs:
        return lambda values: ()
    if len(blobs) == 1:
        one = blobs[0]
        return lambda values: () if (b := one(values)) is None else (b,)
    return lambda values: tuple(b for b in (blob(values) for blob in blobs) if b is not None)


def produced_all(
    t: TaskTemplate, known: Mapping[str, Values], columns: Columns, count: int
) -> list[tuple[str, ...]]:
    """What ``producer`` says of each of ``count`` tasks, made a column at a time."""
    blobs = [b.all(columns, count) for b in _blobs(t, known)]
    if not blobs:
        return [()] * count
    if len(blobs) == 1:
        if None not in blobs[0]:
            return cast(list[tuple[str, ...]], list(zip(blobs[0])))  # tuples of one, in C
        return [() if b is None else (b,) for b in blobs[0]]
    return [tuple(b for b in row if b is not None) for row in zip(*blobs, strict=True)]


class Proof(NamedTuple):
    """Which of ``check_tasks``'s checks hold for every task of one template."""

    valid_ids: bool
    unique_ids: bool
    short_command: bool
    # per output: (its pattern stays inside, its destination does, it never collides, it is
    # never stored under batchflow's own ``.batchflow/``)
    outputs: tuple[tuple[bool, bool, bool, bool], ...]
    produced: Produced | None = None  # the blobs a task uploads on success, from its values
    known: Mapping[str, Values] | None = None  # what the proof knew of each value

    @property
    def outputs_done(self) -> bool:
        """Nothing is left to check of any output."""
        return all(all(o) for o in self.outputs)


NOTHING = Proof(False, False, False, ())


def prove(t: TaskTemplate, tasks: TasksSpec, known: dict[str, Values] | None, limit: int) -> Proof:
    """What holds for every task of ``t`` (the only template of ``tasks``), given ``known``,
    which covers every value a task has but its id; ``limit``: the longest command."""
    if known is None:
        return NOTHING
    valid = _ids_valid(t.id, known)
    axes = (
        [f"item.{k}" for k, axis in tasks.matrix if len(axis) > 1]
        if tasks.mode == "matrix"
        else None
    )
    unique = valid and _ids_unique(t.id, known, axes)
    id_length = MAX_ID if t.id.names else len(_literal(t.id))
    task_ids = Values(
        id_length, valid, _ID_CHARS if valid else None, unique, valid, unique, undotted=valid
    )
    known = {**known, "task.id": task_ids}
    # ``Template.longest`` sums the lengths of every value a task has: each at its longest
    longest = t.command.longest_for(sum(v.longest for v in known.values()))
    outputs = tuple(
        (
            _stays_inside(o.pattern, known),
            _stays_inside(o.destination, known),
            _never_collides(o, t.outputs, known),
            _never_reserved(o, known),
        )
        for o in t.outputs
    )
    return Proof(valid, unique, longest <= limit, outputs, producer(t, known), known)
