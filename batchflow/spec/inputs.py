"""Input globs, matched without leaving the spec's directory.

``glob.glob`` follows symbolic links wherever they point, so ``in/*.txt`` with ``in/b.txt ->
/etc/shadow`` (or ``**`` through ``in/etc -> /etc``) would upload files from outside the
tree. This matcher walks one pattern segment at a time with glob's own rules (``*`` and ``?``
within a name, ``**`` for any number of directories, hidden names only matched by a pattern
that starts with ``.``), and resolves every symbolic link it meets: one that leads outside the
spec's directory is reported, never followed, and ``**`` walks each directory once (a link
back to a parent is not a loop).
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

_MAGIC = re.compile(r"[*?\[]")
_Chain = tuple[tuple[int, int] | None, ...]  # (device, inode) of the directories ** went through


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


class Matcher:
    """Matches patterns under ``base``; ``escapes`` collects links that lead outside it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = os.path.realpath(base)
        self.escapes: dict[str, str] = {}  # relative path -> real target

    def _ok(self, rel: str) -> bool:
        """False (and noted) when ``rel`` is a link whose target is outside the tree."""
        full = os.path.join(self.base, rel)
        if not os.path.islink(full):
            return True
        real = os.path.realpath(full)
        if _inside(real, self.root):
            return True
        self.escapes[rel] = real
        return False

    def _names(self, rel: str, dirs_only: bool) -> list[str]:
        try:
            with os.scandir(os.path.join(self.base, rel) if rel else self.base) as it:
                return sorted(
                    e.name
                    for e in it
                    if not dirs_only or (e.is_dir() and self._ok(_join(rel, e.name)))
                )
        except OSError:  # not a directory, unreadable: glob matches nothing there either
            return []

    def _dir_key(self, rel: str) -> tuple[int, int] | None:
        """(device, inode) of the directory at ``rel``; None for anything else."""
        try:
            st = os.stat(os.path.join(self.base, rel) if rel else self.base)
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None

    def _below(self, rel: str, files_too: bool, ancestors: _Chain) -> Iterator[tuple[str, _Chain]]:
        """What ``**`` at ``rel`` steps into: directories (and files when ``**`` is last), not
        hidden ones, nor a link back to one of ``ancestors``, the directories on the way here."""
        for name in self._names(rel, not files_too):
            child = _join(rel, name)
            key = self._dir_key(child)
            if not name.startswith(".") and (key is None or key not in ancestors):
                yield child, ancestors

    def match(self, pattern: str) -> Iterator[str]:
        """Relative paths of the files ``pattern`` matches (links outside are left out)."""
        segments = [s for s in pattern.split("/") if s not in ("", ".")]
        stack: list[tuple[str, int, _Chain]] = [("", 0, ())]
        while stack:
            rel, i, chain = stack.pop()
            if i == len(segments):
                if rel and self._ok(rel) and os.path.isfile(os.path.join(self.base, rel)):
                    yield rel
                continue
            if rel and not self._ok(rel):
                continue  # a directory link leading outside: do not look inside
            seg = segments[i]
            if seg == "**":
                stack.append((rel, i + 1, chain))
                last = i + 1 == len(segments)  # then it matches the files below, as glob's does
                walked = (*chain, self._dir_key(rel))
                stack.extend((child, i, up) for child, up in self._below(rel, last, walked))
            elif not _MAGIC.search(seg):
                if os.path.lexists(os.path.join(self.base, rel, seg)):
                    stack.append((_join(rel, seg), i + 1, chain))
            else:
                hidden_ok = seg.startswith(".")
                stack.extend(
                    (_join(rel, n), i + 1, chain)
                    for n in self._names(rel, False)
                    if (hidden_ok or not n.startswith(".")) and fnmatch.fnmatchcase(n, seg)
                )


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def bad_name(blob: str) -> str | None:
    """Why ``blob`` cannot be a Batch or blob name (not valid UTF-8), or None."""
    try:
        blob.encode("utf-8")
    except UnicodeEncodeError:
        shown = blob.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return f"file name '{shown}' is not valid UTF-8; Batch and blob names must be"
    return None
