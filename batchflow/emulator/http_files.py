"""The file API of tasks and nodes: list (optionally recursive), download (with ``ocp-range``),
properties (HEAD, with exactly the headers the SDKs read).

Paths arrive percent-encoded as one segment (``wd%2Fout%20put.txt``) and are relative to the
task directory (``stdout.txt``, ``wd/...``) or the node root (``startup/...``). A path that
would leave that directory, by ``..`` or by a symlink, is refused.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from starlette.responses import Response, StreamingResponse

from batchflow.emulator import errors, odata
from batchflow.emulator.contract import Json, Page
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.http_base import Req, listing, seg

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_PREFIX_FILTER = re.compile(r"^\s*startswith\(\s*name\s*,\s*'((?:[^']|'')*)'\s*\)\s*$")
_CHUNK = 64 * 1024


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _resolve(root: Path, rel: str) -> Path:
    """``root/rel``, refusing absolute paths, ``..`` and symlinks that lead outside root."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if rel.startswith("/") or ".." in parts or not parts:
        raise BatchServiceError(
            400,
            "InvalidUri",
            "The file path must be relative to the task directory and must not contain '..'.",
            [("FilePath", rel)],
        )
    path = root.joinpath(*parts)
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except OSError:
        inside = False
    if not inside or not path.exists():
        raise errors.file_not_found(rel)
    return path


def _entry(root: Path, path: Path, url_base: str) -> Json | None:
    """The listing entry of ``path``; None if it vanished meanwhile (a task may delete it).
    A dangling symlink is listed by its own properties rather than failing the listing."""
    try:
        st = path.stat()
    except OSError:
        try:
            st = path.lstat()
        except OSError:
            return None
    name = path.relative_to(root).as_posix()
    is_dir = stat.S_ISDIR(st.st_mode)
    return {
        "name": name,
        "url": f"{url_base}/{seg(name)}",
        "isDirectory": is_dir,
        "properties": {
            "creationTime": _iso(st.st_ctime),
            "lastModified": _iso(st.st_mtime),
            "contentLength": 0 if is_dir else st.st_size,
            "contentType": "application/octet-stream",
            "fileMode": oct(st.st_mode),
        },
    }


def _walk(root: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(root.iterdir())
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        found.extend(base / d for d in dirnames)
        found.extend(base / f for f in sorted(filenames))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


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
    paths = [p for p in _walk(root, recursive) if p.relative_to(root).as_posix().startswith(prefix)]
    start = int(q.token) if q.token and q.token.isdigit() else 0
    chunk = paths[start : start + q.limit]
    more = start + q.limit < len(paths)
    entries = [e for e in (_entry(root, p, url_base) for p in chunk) if e is not None]
    page = Page(entries, str(start + q.limit) if more else None)
    extra = {"recursive": "true"} if recursive else {}
    if prefix:
        extra["$filter"] = req.query["$filter"]
    return listing(req, q, page, "files", lambda it: str(it["url"]), extra)


def _file_headers(root: Path, path: Path, url_base: str) -> dict[str, str]:
    st = path.stat()
    name = path.relative_to(root).as_posix()
    return {
        "Content-Length": str(0 if stat.S_ISDIR(st.st_mode) else st.st_size),
        "Last-Modified": _http_date(st.st_mtime),
        "ocp-creation-time": _http_date(st.st_ctime),
        "ocp-batch-file-isdirectory": "true" if stat.S_ISDIR(st.st_mode) else "false",
        "ocp-batch-file-url": f"{url_base}/{seg(name)}",
        "ocp-batch-file-mode": oct(st.st_mode),
    }


def file_properties(req: Req, root: Path, rel: str, url_base: str) -> Response:
    """HEAD .../files/{path}: the properties as headers, no body."""
    path = _resolve(root, rel)
    headers = _file_headers(root, path, url_base)
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


def _stream(path: Path, first: int, count: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(first)
        while count > 0:
            data = f.read(min(_CHUNK, count))
            if not data:
                return
            count -= len(data)
            yield data


def get_file(req: Req, root: Path, rel: str, url_base: str) -> Response:
    """GET .../files/{path}: the bytes, or the ``ocp-range: bytes=a-b`` slice of them."""
    path = _resolve(root, rel)
    if path.is_dir():
        raise BatchServiceError(
            400,
            "OperationInvalidForCurrentState",
            "The path is a directory; list it instead.",
            [("FilePath", rel)],
        )
    headers = _file_headers(root, path, url_base)
    size = int(headers["Content-Length"])
    first, last = 0, size - 1
    if req.headers.get("ocp-range"):
        first, last = _byte_range(req.headers["ocp-range"], size)
    count = max(last - first + 1, 0)
    headers["Content-Length"] = str(count)
    return StreamingResponse(
        _stream(path, first, count), 200, headers, media_type="application/octet-stream"
    )


# --- the routes ----------------------------------------------------------------------------
def _task_root(req: Req) -> tuple[Path, str]:
    job_id, task_id = req.params[0], req.params[1]
    root = req.state.task_dir(job_id, task_id)
    if root is None or not root.is_dir():
        req.state.get_task(job_id, task_id)  # TaskNotFound/JobNotFound first, as Batch does
        raise errors.file_not_found(req.params[2] if len(req.params) > 2 else "")
    return root, f"{req.base_url}/jobs/{seg(job_id)}/tasks/{seg(task_id)}/files"


def _node_root(req: Req) -> tuple[Path, str]:
    pool_id, node_id = req.params[0], req.params[1]
    root = req.state.node_root(pool_id, node_id)
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
