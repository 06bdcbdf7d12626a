"""YAML text -> plain data plus the line and column of every node.

PyYAML's composer is recursive and expands aliases without limit, so this module builds the
tree itself from the parser's event stream: iteratively, with a depth limit (refused before the
stack grows), an alias budget (a "billion laughs" document is refused, not expanded), duplicate
keys reported, and every node's position kept in ``Document.marks`` keyed by its path.
Scalars are read by YAML 1.2 core-schema rules (``scalars``), not PyYAML's YAML 1.1 ones.
"""

from __future__ import annotations

from typing import Any

import yaml

from batchflow.errors import Problem
from batchflow.spec.scalars import ScalarError, construct_tagged, resolve_plain

Where = tuple[str | int, ...]  # the path of a node in the document: keys and list indexes
Mark = tuple[int, int]  # 1-based line, column

MAX_DEPTH = 64
# Nodes an alias may add beyond the document's own: enough for YAML's legitimate reuse of a
# block of settings, far too little for exponential expansion.
ALIAS_BUDGET = 10_000
_STD = "tag:yaml.org,2002:"
_COLLECTION_TAGS = {None, "!", _STD + "map", _STD + "seq"}
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null")}

try:  # libyaml's parser is several times faster; the pure one gives the same events
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


class LoadFailed(Exception):
    """The text cannot be read as a document at all; carries the problem."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


class Document:
    """A loaded YAML document: plain data and where each piece of it came from.

    (A plain class: the loader's and the model's dataclasses cost `validate` start-up time.)
    """

    __slots__ = ("data", "file", "key_marks", "marks", "problems")

    def __init__(self, file: str, data: Any) -> None:
        self.file = file
        self.data = data
        self.marks: dict[Where, Mark] = {}  # path -> position of the value
        self.key_marks: dict[Where, Mark] = {}  # path -> position of its key
        self.problems: list[Problem] = []  # found while loading (duplicate keys)

    def locate(self, path: Where, *, key: bool = False) -> Mark:
        """Position of ``path``, or of its nearest located ancestor (aliases share nodes)."""
        table = self.key_marks if key else self.marks
        if key and path not in table:
            table = self.marks
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            p = p[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, path: Where, message: str, *, key: bool = False) -> Problem:
        """A Problem located at ``path``."""
        line, col = self.locate(path, key=key)
        return Problem(self.file, line, col, dotted(path), message)


def dotted(path: Where) -> str:
    """``('tasks', 'outputs', 0)`` -> ``tasks.outputs[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(m: Any) -> Mark:
    return (m.line + 1, m.column + 1)


class _Frame:
    """A collection under construction."""

    __slots__ = ("anchor", "key", "path", "pending_key", "size", "value")

    def __init__(self, value: dict[str, Any] | list[Any], path: Where, anchor: str | None) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.pending_key: tuple[str, Mark] | None = None
        self.key = False  # inside a mapping: is the next node a key?
        self.size = 1


class _Builder:
    """Consumes parser events; keeps marks, anchors and budgets."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.alias_nodes = 0
        self.root: Any = None
        self.done = False

    def fail(self, mark: Any, message: str) -> LoadFailed:
        line, col = _mark(mark)
        return LoadFailed(Problem(self.doc.file, line, col, "", message))

    def child_path(self) -> Where:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        assert top.pending_key is not None
        return (*top.path, top.pending_key[0])

    def place(self, value: Any, size: int, mark: Mark) -> None:
        """Attach a finished node to its parent (or make it the root)."""
        if not self.stack:
            self.root = value
            self.doc.marks[()] = mark
            self.done = True
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.value, list):
            item: Where = (*top.path, len(top.value))
            self.doc.marks[item] = mark
            top.value.append(value)
            return
        if top.key:
            self.take_key(top, value, mark)
            return
        assert top.pending_key is not None
        name, _ = top.pending_key
        entry: Where = (*top.path, name)
        self.doc.marks[entry] = mark
        assert isinstance(top.value, dict)
        top.value[name] = value
        top.key = True

    def take_key(self, top: _Frame, value: Any, mark: Mark) -> None:
        if not isinstance(value, str):
            raise LoadFailed(
                Problem(self.doc.file, *mark, dotted(top.path), "mapping keys must be plain text")
            )
        assert isinstance(top.value, dict)
        path = (*top.path, value)
        if value in top.value:
            first = self.doc.key_marks.get(path, (0, 0))[0]
            self.doc.problems.append(
                Problem(
                    self.doc.file, *mark, dotted(path), f"duplicate key (first at line {first})"
                )
            )
        else:
            self.doc.key_marks[path] = mark
        top.pending_key = (value, mark)
        top.key = False

    def scalar(self, ev: yaml.ScalarEvent) -> None:
        mark = _mark(ev.start_mark)
        in_key = bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].key
        if in_key and ev.tag in (None, "!"):
            # Keys stay text: `on:` or `1:` must not become True or 1.
            value: Any = ev.value
        else:
            value = self.construct(ev)
        if ev.anchor:
            self.anchors[ev.anchor] = (value, 1)
        self.place(value, 1, mark)

    def construct(self, ev: yaml.ScalarEvent) -> Any:
        """A scalar's value by YAML 1.2 core-schema rules (see ``scalars``)."""
        if ev.tag in (None, "!"):
            if not ev.implicit[0]:  # quoted: always text
                return ev.value
            try:
                return resolve_plain(ev.value)
            except ScalarError as exc:
                raise self.fail(ev.start_mark, f"{ev.value[:40]!r}...: {exc}") from None
        if ev.tag not in _SCALAR_TAGS:
            raise self.fail(ev.start_mark, f"unsupported YAML tag {ev.tag}")
        try:
            return construct_tagged(ev.tag[len(_STD) :], ev.value)
        except ValueError:  # `!!int abc`, and ScalarError
            raise self.fail(
                ev.start_mark, f"{ev.value[:40]!r} cannot be read as {ev.tag}"
            ) from None

    def alias(self, ev: yaml.AliasEvent) -> None:
        if ev.anchor not in self.anchors:
            raise self.fail(ev.start_mark, f"unknown alias *{ev.anchor}")
        value, size = self.anchors[ev.anchor]
        self.alias_nodes += size
        if self.alias_nodes > ALIAS_BUDGET:
            raise self.fail(
                ev.start_mark,
                f"aliases expand to more than {ALIAS_BUDGET} nodes; refusing (billion laughs?)",
            )
        self.place(value, size, _mark(ev.start_mark))

    def start(self, ev: yaml.CollectionStartEvent, value: dict[str, Any] | list[Any]) -> None:
        if ev.tag not in _COLLECTION_TAGS:
            raise self.fail(ev.start_mark, f"unsupported YAML tag {ev.tag}")
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(ev.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        if self.stack and isinstance(self.stack[-1].value, dict) and self.stack[-1].key:
            raise self.fail(ev.start_mark, "mapping keys must be plain text")
        frame = _Frame(value, self.child_path(), ev.anchor)
        frame.key = isinstance(value, dict)
        self.doc.marks[frame.path] = _mark(ev.start_mark)
        self.stack.append(frame)

    def merge(self, frame: _Frame) -> None:
        """YAML's merge key: ``<<: *defaults`` adds the keys the mapping does not set itself."""
        assert isinstance(frame.value, dict)
        where: Where = (*frame.path, "<<")
        mark = self.doc.marks.pop(where, (1, 1))
        self.doc.key_marks.pop(where, None)
        source = frame.value.pop("<<")
        for src in source if isinstance(source, list) else [source]:
            if not isinstance(src, dict):
                message = "a merge key (<<) takes a mapping or a list of mappings"
                raise LoadFailed(Problem(self.doc.file, *mark, dotted(where), message))
            for key, value in src.items():
                if key not in frame.value:
                    frame.value[key] = value
                    entry: Where = (*frame.path, key)
                    self.doc.marks[entry] = self.doc.key_marks[entry] = mark

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict) and "<<" in frame.value:
            self.merge(frame)
        if frame.anchor:
            self.anchors[frame.anchor] = (frame.value, frame.size)
        mark = self.doc.marks[frame.path]
        self.place(frame.value, frame.size, mark)

    def feed(self, ev: yaml.Event) -> None:
        if isinstance(ev, yaml.ScalarEvent):
            self.scalar(ev)
        elif isinstance(ev, yaml.MappingStartEvent):
            self.start(ev, {})
        elif isinstance(ev, yaml.SequenceStartEvent):
            self.start(ev, [])
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self.end()
        elif isinstance(ev, yaml.AliasEvent):
            self.alias(ev)
        elif isinstance(ev, yaml.DocumentStartEvent) and self.done:
            raise self.fail(ev.start_mark, "a spec holds one YAML document, found a second")


def _decode(file: str, raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise LoadFailed(Problem(file, line, col, "", "not UTF-8 text (binary file?)")) from None
    if "\x00" in text:
        at = text.index("\x00")
        line, col = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        raise LoadFailed(Problem(file, line, col, "", "not a text file (NUL byte)"))
    return text


def parse(file: str, raw: bytes) -> Document:
    """Parse ``raw`` (the bytes of ``file``) into a located Document.

    Raises ``LoadFailed`` when the bytes are not one readable YAML mapping.
    """
    text = _decode(file, raw)
    doc = Document(file, None)
    builder = _Builder(doc)
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            builder.feed(ev)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _mark(mark) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise LoadFailed(Problem(file, line, col, "", f"YAML syntax error: {what}")) from None
    except yaml.reader.ReaderError as exc:  # control characters and the like
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        ch = exc.character
        code = ord(ch) if isinstance(ch, str) else int(ch)  # libyaml gives an int
        what = f"character U+{code:04X} is not allowed in YAML"
        raise LoadFailed(Problem(file, line, col, "", what)) from None
    except yaml.YAMLError as exc:
        raise LoadFailed(Problem(file, 1, 1, "", f"unreadable YAML: {exc}")) from None
    if not builder.done or builder.root is None:
        raise LoadFailed(Problem(file, 1, 1, "", "the spec is empty"))
    if not isinstance(builder.root, dict):
        kind = "a list" if isinstance(builder.root, list) else f"a {type(builder.root).__name__}"
        raise LoadFailed(
            Problem(file, 1, 1, "", f"the spec must be a mapping of keys, found {kind}")
        )
    doc.data = builder.root
    return doc
