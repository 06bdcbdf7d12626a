"""What building the model needs at every step: the document, the problems so far, the values
templates are bound to. Helpers here turn local failures into located Problems and go on, so
that one pass reports everything."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from batchflow.errors import Problem
from batchflow.spec.durations import DurationError, parse_duration
from batchflow.spec.loader import Document, Where
from batchflow.spec.model import LocalFile
from batchflow.spec.templates import Kind, Template, TemplateError, compile_template

BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
BATCH_ID_RULE = "letters, digits, - and _, 1 to 64 characters"
_UNKNOWN = "unknown placeholder"
# Longest job or task timeout. Batch's own maxWallClockTime is "unlimited" (about 10,675,199
# days, a .NET TimeSpan); anything near that overflows date arithmetic in clients and the
# emulator, and no batch job needs half a year.
MAX_DURATION_S = 180 * 86400


class Context:
    """One spec being built: its document, base directory, problems and bound values."""

    def __init__(
        self, doc: Document, base: Path, environ: Mapping[str, str], *, need_inputs: bool = True
    ) -> None:
        self.doc = doc
        self.need_inputs = need_inputs  # False: a glob matching nothing is no problem
        self.base = base
        self.environ = environ
        self.problems: list[Problem] = []
        self.bound: dict[str, str] = {}  # params.x / env.X -> text
        self.literal: set[str] = set()  # params set by --set, taken as typed
        self.secret_env: set[str] = set()  # environment keys valued by {env.X}

    def add(self, path: Where, message: str, *, key: bool = False) -> None:
        """Record a problem at ``path``."""
        self.problems.append(self.doc.problem(path, message, key=key))

    def get(self, path: Where, default: Any = None) -> Any:
        """The value at ``path`` in the (schema-valid) document, or ``default``."""
        node: Any = self.doc.data
        for part in path:
            in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
            if not (in_dict or in_list):
                return default
            node = node[part]
        return node

    def duration(self, path: Where) -> int | None:
        """Seconds of the duration at ``path`` (None if absent); more than zero, at most
        MAX_DURATION_S."""
        text = self.get(path)
        if text is None:
            return None
        try:
            seconds = parse_duration(str(text))
        except DurationError as exc:
            self.add(path, str(exc))
            return None
        if seconds <= 0:
            self.add(path, "must be longer than zero")
            return None
        if seconds > MAX_DURATION_S:
            self.add(path, f"is longer than {MAX_DURATION_S // 86400} days, the most allowed")
            return None
        return seconds

    def template(
        self, path: Where, kind: Kind, per_task: Collection[str], *, env: bool = False
    ) -> Template | None:
        """Compile the template at ``path``; bind params (and env values when ``env``)."""
        text = self.get(path)
        if text is None:
            return None
        allowed: Callable[[str], bool] = lambda n: (  # noqa: E731
            n in per_task
            or (n.startswith("params.") and n in self.bound)
            or (env and n.startswith("env."))
        )
        try:
            tmpl = compile_template(as_str(text), kind, allowed)
        except TemplateError as exc:
            for message in exc.messages:
                if not message.startswith(_UNKNOWN):
                    self.add(path, message)
            for name in exc.unknown:
                self.add(path, f"{_UNKNOWN} {{{name}}}{self._hint(name, per_task, env)}")
            return None
        return tmpl.bind(self._values(path, tmpl))

    def _hint(self, name: str, per_task: Collection[str], env: bool) -> str:
        """'; did you mean {x}?' or the list of what this field may use."""
        usable = [*per_task, *(n for n in self.bound if n.startswith("params."))]
        import difflib  # only when a template has a mistake

        close = difflib.get_close_matches(name, usable, n=1, cutoff=0.7)
        if close:
            return f"; did you mean {{{close[0]}}}?"
        shown = [*sorted(usable), *(["env.<NAME>"] if env else [])]
        return f"; usable here: {', '.join('{' + k + '}' for k in shown) or 'none'}"

    def _values(self, path: Where, tmpl: Template) -> dict[str, str]:
        values = {}
        for name in tmpl.names:
            if name.startswith("env."):
                var = name[4:]
                if var not in self.environ:
                    self.add(path, f"environment variable {var} is not set (used as {{{name}}})")
                values[name] = self.environ.get(var, "")
                if not values[name].isascii() and not is_utf8(values[name]):
                    self.add(path, f"environment variable {var} is not valid UTF-8 text")
                    values[name] = ""
                if len(path) >= 2 and path[-2] == "environment":
                    self.secret_env.add(str(path[-1]))
            elif name in self.bound:
                values[name] = self.bound[name]
        return values

    def batch_id(self, path: Where, value: str, what: str) -> str:
        """Check ``value`` against Batch's id rules."""
        if not BATCH_ID.fullmatch(value):
            self.add(path, f"{what} '{value}' is not a valid Batch id ({BATCH_ID_RULE})")
        return value

    def files(self, path: Where) -> tuple[LocalFile, ...]:
        """Local files matched by the globs listed at ``path``, relative to the spec file."""
        found: dict[str, LocalFile] = {}
        for i, pattern in enumerate(self.get(path, [])):
            for blob in self._glob((*path, i), str(pattern)):
                found.setdefault(blob, LocalFile(self.base / blob, blob))
        return tuple(found.values())

    def _glob(self, path: Where, pattern: str) -> list[str]:
        norm = pattern.replace("\\", "/")
        if os.path.isabs(norm) or norm.startswith("/"):
            self.add(path, f"'{pattern}' is absolute; inputs are relative to the spec file")
            return []
        if ".." in norm.split("/"):
            self.add(path, f"'{pattern}' leaves the spec's directory ('..')")
            return []
        from batchflow.spec.inputs import Matcher, bad_name  # only specs with inputs need it

        matcher = Matcher(self.base)
        hits = sorted(matcher.match(norm))
        for rel, target in sorted(matcher.escapes.items()):
            self.add(
                path,
                f"'{rel}' is a symbolic link to {target}, outside the spec's directory; "
                "inputs must stay inside it",
            )
        good = []
        for hit in hits:
            why = bad_name(hit)
            if why:
                self.add(path, why)
            else:
                good.append(hit)
        if not hits and not matcher.escapes and self.need_inputs:
            self.add(path, f"'{pattern}' matches no file (looked in {self.base})")
        return good


def is_utf8(text: str) -> bool:
    """False for text holding undecodable bytes (surrogate escapes from argv or environ)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept as surrogate escapes
        return False
    return True


def as_str(value: Any) -> str:
    """Schema-checked scalars as text (``true``, ``1.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
