"""Removing a directory tree that a task made: any depth, no link followed.

A task decides the shape of its directory: ``shutil.rmtree`` (Python 3.11) and a recursive
walk both raise ``RecursionError`` on a tree deeper than the recursion limit (about 1,000
levels, one shell loop of ``mkdir d; cd d``), which turned a file DELETE into a 500, left a
deleted job's files on disk and stopped the retention sweep, and with it the emulator. So
the walk here is a loop that holds two fds whatever the depth: it goes down by fd, never
through a link, and back up by ``..``, checked to be the directory it came from.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _clear(fd: int) -> list[str]:
    """Unlink everything in the directory ``fd`` but its directories; return their names."""
    subdirs: list[str] = []
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                is_dir = stat.S_ISDIR(entry.stat(follow_symlinks=False).st_mode)
            except FileNotFoundError:
                continue
            if is_dir:
                subdirs.append(entry.name)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=fd)
    return subdirs


def remove_beneath(parent: int, name: str) -> None:
    """Remove the directory ``name`` of the directory fd ``parent`` and all it holds.

    Raises ``OSError`` as the system calls do (``ENOTEMPTY`` when a directory on the way
    was moved meanwhile, or is still being written to); entries that vanish are no error."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    # Per level entered: its (dev, inode), its name, the subdirectories still to remove.
    levels: list[tuple[tuple[int, int], str, list[str]]] = [(_identity(fd), name, _clear(fd))]
    try:
        while True:
            pending = levels[-1][2]
            if pending:
                sub = pending.pop()
                try:
                    inner = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    # Swapped for a link or a file since the scan: remove it as it is.
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(sub, dir_fd=fd)
                    continue
                os.close(fd)
                fd = inner
                levels.append((_identity(fd), sub, _clear(fd)))
                continue
            if len(levels) == 1:
                break
            _ident, done, _none = levels.pop()
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            if _identity(fd) != levels[-1][0]:
                # Moved meanwhile: `..` is no longer where we came from. Stop, touch nothing.
                raise OSError(errno.ENOTEMPTY, "the tree changed while it was removed", done)
            os.rmdir(done, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def discard(path: Path) -> None:
    """Remove the tree ``path`` if it is there, as far as it can be (best effort: a cleanup
    must never fail its caller). ``path`` itself may be a link: only the link goes."""
    try:
        parent = os.open(path.parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        return
    try:
        st = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            remove_beneath(parent, path.name)
        else:
            os.unlink(path.name, dir_fd=parent)
    except OSError:
        return
    finally:
        os.close(parent)
