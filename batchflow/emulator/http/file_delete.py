"""DELETE /jobs/{job}/tasks/{task}/files/{path} (File_DeleteFromTask): removes a file, an empty
directory, or with ``recursive=true`` a directory and everything in it, from the task's
directory. The SDKs and ``az batch task file delete`` call it; without it they got 405.

Deletion walks as reading does (``file_routes``): the parent is opened one component at a
time beneath the task directory with ``O_NOFOLLOW``, and the last component is removed relative
to that fd, so a link is removed as the link it is and nothing outside the task directory is
ever touched (a recursive delete walks by fd too, never entering a link).
"""

from __future__ import annotations

import errno
import os
import stat

from starlette.responses import Response

from batchflow.emulator import errors
from batchflow.emulator.http.base import Req, done
from batchflow.emulator.http.file_routes import _open_dir, _parts, _task_root


def delete_task_file(req: Req) -> Response:
    root, _ = _task_root(req)
    rel = req.params[2]
    recursive = req.query.get("recursive", "false").lower() == "true"
    parts = _parts(rel)
    try:
        parent = _open_dir(root)
    except OSError:
        raise errors.file_not_found(rel) from None
    try:
        for part in parts[:-1]:
            inner = _open_dir(part, parent)
            os.close(parent)
            parent = inner
        _remove(parent, parts[-1], rel, recursive)
    except OSError:
        raise errors.file_not_found(rel) from None
    finally:
        os.close(parent)
    return done(200)


def _remove(parent: int, name: str, rel: str, recursive: bool) -> None:
    st = os.lstat(name, dir_fd=parent)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    if recursive:
        _remove_tree(parent, name)
        return
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise
        raise errors.invalid_operation(
            f"The directory {rel} is not empty: delete it with recursive=true."
        ) from None


def _remove_tree(parent: int, name: str) -> None:
    """``name`` beneath ``parent`` and all in it, by fd (``shutil.rmtree`` takes ``dir_fd``
    only from Python 3.11): a link inside is unlinked, never entered."""
    fd = _open_dir(name, parent)
    try:
        with os.scandir(fd) as entries:
            for entry in list(entries):
                if entry.is_dir(follow_symlinks=False):
                    _remove_tree(fd, entry.name)
                else:
                    os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)
