"""The file API of tasks and nodes: list (optionally recursive), download (with ``ocp-range``),
properties (HEAD, with exactly the headers the SDKs read).

Paths arrive percent-encoded as one segment (``wd%2Fout%20put.txt``) and are relative to the
task directory (``stdout.txt``, ``wd/...``) or the node root (``startup/...``). A path that
would leave that directory, by ``..`` or by a symlink, is refused: files are opened one
component at a time beneath the directory's fd with ``O_NOFOLLOW``, and what is served (size,
bytes) comes from the opened file, so a link swapped in while a read is under way is not
followed either. Listings list links as links and never enter one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import email.utils
import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from starlette.responses import Response, StreamingResponse

from batchflow.emulator import errors, trees
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.http import odata
from batchflow.emulator.http.base import Req, listing, seg
from batchflow.emulator.kinds import Json
from batchflow.emulator.state import pools, tasks
from batchflow.emulator.state.store import Page

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_PREFIX_FILTER = re.compile(r"^\s*startswith\(\s*name\s*,\s*'((?:[^']|'')*)'\s*\)\s*$")
_CHUNK = 64 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _parts(rel: str) -> list[str]:
    """The components of ``rel``; 400 for absolute paths, ``..`` or nothing at all."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if rel.startswith("/") or ".." in parts or not parts:
        raise BatchServiceError(
            400,
            "InvalidUri",
            "The file path must be relative to the task directory and must not contain '..'.",
            [("FilePath", rel)],
        )
    return parts


def _open_dir(name: str | Path, dir_fd: int | None = None) -> int:
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _open_beneath(root: Path, rel: str) -> tuple[int, os.stat_result]:
    """An fd of ``root/rel`` opened one component at a time from ``root``, no symlink
    followed (a task may swap any component for a link while we read), and the opened
    file's own stat: a directory or a regular file, nothing else. 404 otherwise."""
    parts = _parts(rel)
    try:
        fd = _open_dir(root)
    except OSError:
        raise errors.file_not_found(rel) from None
    try:
        for part in parts[:-1]:
            inner = _open_dir(part, fd)
            os.close(fd)
            fd = inner
        # O_NONBLOCK: a FIFO must not hang the read; it is refused below anyway.
        inner = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError:
        os.close(fd)
        raise errors.file_not_found(rel) from None
    os.close(fd)
    st = os.fstat(inner)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        os.close(inner)
        raise errors.file_not_found(rel)
    return inner, st


def _entry(name: str, st: os.stat_result, url_base: str) -> Json:
    """The listing entry of ``name`` from its own (``lstat``) properties: a link is listed as
    the link it is, never by what it points to."""
    is_dir = stat.S_ISDIR(st.st_mode)
    return {
        "name": name,
        "url": f"{url_base}/{seg(name)}",
        "isDirectory": is_dir,
        "properties": {
            "creationTime": _iso(st.st_ctime),
            "lastModified": _iso(st.st_mtime),
            "contentLength": str(0 if is_dir else st.st_size),  # int64: a string on the wire
            "contentType": "application/octet-stream",
            "fileMode": oct(st.st_mode),
        },
    }


def _walk(root: Path, recursive: bool) -> list[tuple[str, os.stat_result]]:
    """(name, lstat) of everything under ``root``, sorted by name. Directories are entered by
    fd, never by path, so one swapped for a link meanwhile is not followed out of ``root``."""
    try:
        top = _open_dir(root)
    except OSError:
        return []
    found: list[tuple[str, os.stat_result]] = []
    stack: list[tuple[int, str]] = [(top, "")]
    try:
        while stack:
            fd, prefix = stack.pop()
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        _visit(entry, fd, prefix, recursive, found, stack)
            finally:
                os.close(fd)
    finally:
        for fd, _prefix in stack:
            os.close(fd)
    return sorted(found, key=lambda item: item[0])


def _visit(
    entry: os.DirEntry[str],
    parent: int,
    prefix: str,
    recursive: bool,
    found: list[tuple[str, os.stat_result]],
    stack: list[tuple[int, str]],
) -> None:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return  # vanished meanwhile (a task may delete files while we list)
    name = f"{prefix}{entry.name}"
    found.append((name, st))
    if recursive and stat.S_ISDIR(st.st_mode):
        # Replaced by a link or removed since the stat: not entered.
        with contextlib.suppress(OSError):
            stack.append((_open_dir(entry.name, parent), f"{name}/"))


def _prefix(req: Req) -> str:
    raw = req.query.get("$filter")
    if not raw:
        return ""
    match = _PREFIX_FILTER.match(raw)
    if not match:
        raise errors.invalid_query_parameter(
            "$filter", raw, "File lists filter only with startswith(name, 'prefix')."
        )
    return match.group(1).replace("''", "'")


def list_files(req: Req, root: Path, url_base: str) -> Response:
    """GET .../files: one page of entries, ``recursive`` and ``startswith`` honoured."""
    recursive = req.query.get("recursive", "false").lower() == "true"
    q = odata.parse_list_query({k: v for k, v in req.query.items() if k != "$filter"})
    prefix = _prefix(req)
    paths = [(n, st) for n, st in _walk(root, recursive) if n.startswith(prefix)]
    start = int(q.token) if q.token and q.token.isdigit() else 0
    chunk = paths[start : start + q.limit]
    more = start + q.limit < len(paths)
    entries = [_entry(name, st, url_base) for name, st in chunk]
    page = Page(entries, str(start + q.limit) if more else None)
    extra = {"recursive": "true"} if recursive else {}
    if prefix:
        extra["$filter"] = req.query["$filter"]
    return listing(req, q, page, "files", lambda it: str(it["url"]), extra)


def _etag(st: os.stat_result) -> str:
    """A file's eTag: changes whenever its content may have (mtime, size or inode)."""
    return f"0x8D{st.st_mtime_ns // 1000:013X}{(st.st_size ^ st.st_ino) & 0xFFF:03X}"


def _file_headers(st: os.stat_result, rel: str, url_base: str) -> dict[str, str]:
    name = "/".join(_parts(rel))
    return {
        "Content-Length": str(0 if stat.S_ISDIR(st.st_mode) else st.st_size),
        "ETag": _etag(st),
        "Last-Modified": _http_date(st.st_mtime),
        "ocp-creation-time": _http_date(st.st_ctime),
        "ocp-batch-file-isdirectory": "true" if stat.S_ISDIR(st.st_mode) else "false",
        "ocp-batch-file-url": f"{url_base}/{seg(name)}",
        "ocp-batch-file-mode": oct(st.st_mode),
    }


def _check_dates(req: Req, st: os.stat_result) -> None:
    """The file API's only conditions, If-Modified-Since (304 when not modified since) and
    If-Unmodified-Since (412), against the file's modification time in whole seconds, the
    precision of its Last-Modified header."""
    modified = _dt.datetime.fromtimestamp(int(st.st_mtime), _dt.timezone.utc)
    if _header_date(req, "if-unmodified-since") < modified:
        raise errors.condition_not_met()
    if modified <= _header_date(req, "if-modified-since", _dt.datetime.min):
        raise BatchServiceError(304, "NotModified", "The resource has not been modified.")


def _header_date(req: Req, name: str, absent: _dt.datetime = _dt.datetime.max) -> _dt.datetime:
    value = req.headers.get(name)
    if not value:
        return absent.replace(tzinfo=_dt.timezone.utc)
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise errors.invalid_header(name, value) from None


def file_properties(req: Req, root: Path, rel: str, url_base: str) -> Response:
    """HEAD .../files/{path}: the properties as headers, no body."""
    fd, st = _open_beneath(root, rel)
    os.close(fd)
    _check_dates(req, st)
    headers = _file_headers(st, rel, url_base)
    headers["Content-Type"] = "application/octet-stream"
    return Response(b"", 200, headers)


def _byte_range(header: str, size: int) -> tuple[int, int]:
    match = _RANGE.match(header.strip())
    if not match:
        raise errors.invalid_header("ocp-range", header)
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first > last or (size and first >= size):
        raise BatchServiceError(
            416,
            "InvalidRange",
            "The range specified is invalid for the current size of the resource.",
            [("ocp-range", header)],
        )
    return first, min(last, size - 1)


def _stream(f: BinaryIO, first: int, count: int) -> Iterator[bytes]:
    with f:
        f.seek(first)
        while count > 0:
            data = f.read(min(_CHUNK, count))
            if not data:
                return
            count -= len(data)
            yield data


def get_file(req: Req, root: Path, rel: str, url_base: str) -> Response:
    """GET .../files/{path}: the bytes, or the ``ocp-range: bytes=a-b`` slice of them, read
    from the very file that was opened and checked."""
    fd, st = _open_beneath(root, rel)
    # Owned by the file object from here: closed by the stream, or when it is collected.
    f = os.fdopen(fd, "rb")
    try:
        _check_dates(req, st)
    except BatchServiceError:
        f.close()
        raise
    if stat.S_ISDIR(st.st_mode):
        f.close()
        raise BatchServiceError(
            400,
            "OperationInvalidForCurrentState",
            "The path is a directory; list it instead.",
            [("FilePath", rel)],
        )
    headers = _file_headers(st, rel, url_base)
    size = st.st_size
    first, last = 0, size - 1
    try:
        if req.headers.get("ocp-range"):
            first, last = _byte_range(req.headers["ocp-range"], size)
    except BatchServiceError:
        f.close()
        raise
    count = max(last - first + 1, 0)
    headers["Content-Length"] = str(count)
    return StreamingResponse(
        _stream(f, first, count), 200, headers, media_type="application/octet-stream"
    )


# --- the routes ----------------------------------------------------------------------------
def _task_root(req: Req) -> tuple[Path, str]:
    job_id, task_id = req.params[0], req.params[1]
    root = tasks.task_dir(req.core, job_id, task_id)
    if root is None or not root.is_dir():
        req.core.task(job_id, task_id)  # TaskNotFound/JobNotFound first, as Batch does
        raise errors.file_not_found(req.params[2] if len(req.params) > 2 else "")
    return root, f"{req.base_url}/jobs/{seg(job_id)}/tasks/{seg(task_id)}/files"


def _node_root(req: Req) -> tuple[Path, str]:
    pool_id, node_id = req.params[0], req.params[1]
    root = pools.node_root(req.core, pool_id, node_id)
    if not root.is_dir():
        raise errors.file_not_found(req.params[2] if len(req.params) > 2 else "")
    return root, f"{req.base_url}/pools/{seg(pool_id)}/nodes/{seg(node_id)}/files"


def task_files(req: Req) -> Response:
    return list_files(req, *_task_root(req))


def task_file(req: Req) -> Response:
    return _file(req, *_task_root(req))


def node_files(req: Req) -> Response:
    return list_files(req, *_node_root(req))


def node_file(req: Req) -> Response:
    return _file(req, *_node_root(req))


def _file(req: Req, root: Path, base: str) -> Response:
    """HEAD: the file's properties; GET: its bytes."""
    if req.is_head:
        return file_properties(req, root, req.params[2], base)
    return get_file(req, root, req.params[2], base)


# --- deletion (File_DeleteFromTask, File_DeleteFromComputeNode) ----------------------------
def delete_file(req: Req, root: Path, rel: str) -> Response:
    """DELETE .../files/{path}: a file (a link: the link itself), an empty directory, or with
    ``recursive=true`` a directory and all beneath it. The path is walked by fd, no link
    followed, as reads are, so nothing outside ``root`` can be reached."""
    recursive = req.query.get("recursive", "false").lower()
    if recursive not in ("true", "false"):
        raise errors.invalid_query_parameter("recursive", recursive, "Expected true or false.")
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
        st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    except OSError:
        os.close(parent)
        raise errors.file_not_found(rel) from None
    try:
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(parts[-1], dir_fd=parent)
        elif recursive == "true":
            trees.remove_beneath(parent, parts[-1])
        else:
            try:
                os.rmdir(parts[-1], dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise errors.directory_not_empty(rel) from None
                raise
    except FileNotFoundError:
        raise errors.file_not_found(rel) from None
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            # A task still writing into the tree, or moving it, while it is removed.
            raise errors.directory_not_empty(rel) from None
        raise
    finally:
        os.close(parent)
    return Response(b"", 200)


def delete_task_file(req: Req) -> Response:
    root, _base = _task_root(req)
    return delete_file(req, root, req.params[2])


def delete_node_file(req: Req) -> Response:
    root, _base = _node_root(req)
    return delete_file(req, root, req.params[2])
