"""Resource files in, output files out, as a Batch node moves them.

Sources and destinations: ``http(s)`` URLs (SAS URLs to Azure or Azurite), blob containers via
azure-storage-blob, and a documented local extension, ``file://`` URLs: a file for ``httpUrl``,
a directory whose files are the "blobs" for ``storageContainerUrl`` and for output
``containerUrl``. Every destination path must stay inside its target directory. Failures carry
the Batch failure code; SAS signatures never appear in a message or log line.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchflow.emulator.kinds import Json

_RETRIES = 3
_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class FileError(Exception):
    """A transfer failed; ``code`` is the Batch failure code (category usererror)."""

    code: str
    message: str


def bare_url(url: str) -> str:
    """``url`` without its query string (a SAS token is a secret)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _under(path: str, root: str) -> bool:
    """Whether the resolved ``path`` lies below the resolved directory ``root``. Strings, not
    ``Path.parents``: this runs for every file of every task."""
    return path.startswith(root.rstrip(os.sep) + os.sep)


def inside(base: Path, relative: str, code: str) -> Path:
    """``base/relative``, refusing absolute paths and anything that escapes ``base``. Each
    resolution stats every component of the path: ``base`` is resolved once, and the target
    from it."""
    if not relative or os.path.isabs(relative):
        raise FileError(code, f"The path '{relative}' must be relative")
    root = os.path.realpath(base)
    target = os.path.realpath(os.path.join(root, relative))
    if target != root and not _under(target, root):
        raise FileError(code, f"The path '{relative}' is outside its directory")
    return Path(target)


def _file_path(url: str) -> Path:
    return Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))


# -- resource files -------------------------------------------------------------------------
def download_resource_files(specs: list[Json] | None, wd: Path) -> None:
    """Fetch every resource file into ``wd`` (the task's working directory)."""
    try:
        for spec in specs or []:
            _download(spec, wd)
    except OSError as exc:
        raise FileError(
            "ResourceFileWriteFailed", f"A resource file could not be written: {exc.strerror}"
        ) from exc


def _download(spec: Json, wd: Path) -> None:
    if spec.get("httpUrl"):
        url = str(spec["httpUrl"])
        name = spec.get("filePath") or Path(urllib.parse.urlsplit(url).path).name
        dest = inside(wd, str(name), "ResourceFileCreateFailed")
        _fetch(url, dest)
        _chmod(dest, spec.get("fileMode"))
    elif spec.get("storageContainerUrl"):
        base = (
            inside(wd, spec["filePath"], "ResourceFileCreateFailed") if spec.get("filePath") else wd
        )
        for name, fetch in _container_blobs(
            str(spec["storageContainerUrl"]), str(spec.get("blobPrefix") or "")
        ):
            dest = inside(base, name, "ResourceFileCreateFailed")
            dest.parent.mkdir(parents=True, exist_ok=True)
            fetch(dest)
            _chmod(dest, spec.get("fileMode"))
    else:
        raise FileError(
            "BlobDownloadMiscError",
            "The local Batch emulator supports "
            "resource files with httpUrl or storageContainerUrl only",
        )


def _chmod(path: Path, mode: object) -> None:
    if mode:
        try:
            path.chmod(int(str(mode), 8))
        except ValueError as exc:
            raise FileError("ResourceFileCreateFailed", f"Invalid fileMode '{mode}'") from exc


def _fetch(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("file://"):
        source = _file_path(url)
        if not source.is_file():
            raise FileError("BlobNotFound", f"The resource file {bare_url(url)} does not exist")
        shutil.copyfile(source, dest)
        return
    if not url.startswith(("http://", "https://")):
        raise FileError("BlobDownloadMiscError", f"Unsupported URL scheme in {bare_url(url)}")
    for attempt in range(_RETRIES):
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:  # noqa: S310
                shutil.copyfileobj(resp, out)
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise FileError("BlobNotFound", f"{bare_url(url)} was not found") from exc
            if exc.code == 403:
                raise FileError("BlobAccessDenied", f"Access to {bare_url(url)} denied") from exc
            failure = f"HTTP {exc.code}"
        except OSError as exc:
            failure = type(exc).__name__
        if attempt + 1 < _RETRIES:
            time.sleep(0.2 * 2**attempt)  # back off between download retries (not scheduling)
    raise FileError("BlobDownloadMiscError", f"Downloading {bare_url(url)} failed: {failure}")


def _container_blobs(url: str, prefix: str) -> Iterator[tuple[str, Any]]:
    """``(blob name, fetch(dest))`` pairs of a container (or a file:// directory)."""
    if url.startswith("file://"):
        root = _file_path(url)
        if not root.is_dir():
            raise FileError("BlobNotFound", f"The container {bare_url(url)} does not exist")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            name = path.relative_to(root).as_posix()
            if name.startswith(prefix):
                yield name, (lambda dest, src=path: shutil.copyfile(src, dest))
        return
    from azure.core.exceptions import AzureError, HttpResponseError
    from azure.storage.blob import ContainerClient

    client = ContainerClient.from_container_url(url)
    try:
        names = [b.name for b in client.list_blobs(name_starts_with=prefix or None)]
    except HttpResponseError as exc:
        code = "BlobAccessDenied" if exc.status_code == 403 else "BlobNotFound"
        raise FileError(code, f"Listing {bare_url(url)} failed: {exc.reason}") from exc
    except AzureError as exc:
        raise FileError("BlobDownloadMiscError", f"Listing {bare_url(url)} failed") from exc

    def fetch(dest: Path, name: str) -> None:
        try:
            with open(dest, "wb") as out:
                client.download_blob(name).readinto(out)
        except AzureError as exc:
            raise FileError("BlobDownloadMiscError", f"Downloading blob {name} failed") from exc

    for name in names:
        yield name, (lambda dest, n=name: fetch(dest, n))


# -- output files ---------------------------------------------------------------------------
def wanted(spec: Json, success: bool) -> bool:
    """Whether ``spec``'s uploadCondition asks for an upload after this outcome."""
    condition = str(spec.get("uploadOptions", {}).get("uploadCondition", "")).lower()
    if condition == "tasksuccess":
        return success
    if condition == "taskfailure":
        return not success
    return True


def upload_output_files(specs: list[Json] | None, task_dir: Path, success: bool) -> None:
    """Upload the files of every matching spec; logs go to fileuploadout/err.txt."""
    if not specs:
        return
    log_out: list[str] = []
    try:
        for spec in specs:
            if wanted(spec, success):
                for path, name in _matches(spec, task_dir):
                    container = spec["destination"]["container"]
                    _upload(path, str(container["containerUrl"]), name)
                    log_out.append(
                        f"Uploaded {path.relative_to(task_dir)} to "
                        f"{bare_url(str(container['containerUrl']))}/{name}"
                    )
    except OSError as exc:
        failure = FileError(
            "FileUploadMiscError", f"An output file could not be read: {exc.strerror}"
        )
        (task_dir / "fileuploaderr.txt").write_text(f"{failure.code}: {failure.message}\n")
        raise failure from exc
    except FileError as exc:
        (task_dir / "fileuploaderr.txt").write_text(f"{exc.code}: {exc.message}\n")
        raise
    finally:
        # surrogateescape: a file name that is not UTF-8 (caf\xe9.txt) is written as its bytes
        text = "".join(f"{line}\n" for line in log_out)
        (task_dir / "fileuploadout.txt").write_text(text, errors="surrogateescape")


def _matches(spec: Json, task_dir: Path) -> Iterator[tuple[Path, str]]:
    pattern = str(spec["filePattern"])
    wd = task_dir / "wd"
    dest_path = spec["destination"]["container"].get("path")
    wild = any(c in _WILDCARDS for c in pattern)
    # Matches are named relative to the pattern's literal leading directories.
    literal = []
    for part in pattern.replace("\\", "/").split("/")[:-1]:
        if any(c in _WILDCARDS for c in part):
            break
        literal.append(part)
    base = os.path.realpath(wd / "/".join(literal) if literal else wd)
    root = os.path.realpath(task_dir)
    for found in sorted(_glob(wd, pattern)):
        path = Path(real := os.path.realpath(found))
        if not path.is_file():
            continue
        if not _under(real, root):
            raise FileError(
                "FileUploadMiscError",
                f"The file pattern '{pattern}' matches files outside the task directory",
            )
        rel = path.relative_to(base).as_posix() if _under(real, base) else path.name
        if not wild:
            yield path, str(dest_path or path.name)
        else:
            yield path, f"{str(dest_path).rstrip('/')}/{rel}" if dest_path else rel


def _glob(wd: Path, pattern: str) -> set[Path]:
    """What ``glob.glob(wd/pattern, recursive=True)`` finds, but ``**`` crosses real
    directories only, never a symbolic link to one: glob follows them, so two links to ``.``
    that a task made (an untrusted tarball may hold them) had it walk 2**40 paths, holding the
    node and the memory of the emulator without end, and a link to ``/`` the whole disk."""
    found = {wd}
    parts = [p for p in pattern.split("/") if p]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        found = {m for base in found for m in _step(base, part, last)}
    return found


def _visible(name: str, part: str) -> bool:
    """glob's rule: a wildcard does not match a leading ``.`` unless the pattern has it."""
    return not name.startswith(".") or part.startswith(".")


def _step(base: Path, part: str, last: bool) -> Iterator[Path]:
    """The paths below ``base`` that one part of a pattern matches (directories only,
    unless it is the last part)."""
    if part == "**":
        yield base
        if base.is_symlink():  # reached by a wildcard: ** goes no further down a link
            return
        for root, dirs, files in os.walk(base):  # os.walk follows no link to a directory
            here = Path(root)
            dirs[:] = [d for d in dirs if _visible(d, "") and not (here / d).is_symlink()]
            yield from (here / d for d in dirs)
            if last:
                yield from (here / f for f in files if _visible(f, ""))
        return
    if not any(c in _WILDCARDS for c in part):
        path = base / part
        if os.path.lexists(path) and (last or path.is_dir()):
            yield path
        return
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if _visible(name, part) and fnmatch.fnmatchcase(name, part):
            path = base / name
            if last or path.is_dir():
                yield path


def _name_conflict(root: Path, name: str) -> str | None:
    """A file:// container is a directory: ``o.txt`` and ``o.txt/y`` cannot both be there."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        if (root / "/".join(parts[:i])).is_file():
            other = "/".join(parts[:i])
            return (
                f"Output {name!r} cannot be stored: blob {other!r} exists and a local (file://) "
                "container cannot hold a blob and a folder of the same name"
            )
    if (root / name).is_dir():
        return (
            f"Output {name!r} cannot be stored: blobs under {name + '/'!r} exist and a local "
            "(file://) container cannot hold a blob and a folder of the same name"
        )
    return None


def _upload(path: Path, container_url: str, name: str) -> None:
    if container_url.startswith("file://"):
        root = _file_path(container_url)
        if not root.is_dir():
            raise FileError(
                "FileUploadContainerNotFound",
                f"The container {bare_url(container_url)} does not exist",
            )
        dest = inside(root, name, "FileUploadMiscError")
        if why := _name_conflict(root, name):
            raise FileError("FileUploadMiscError", why)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.blob import ContainerClient

    client = ContainerClient.from_container_url(container_url)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a local name that is not UTF-8, read with surrogates
        raise FileError(
            "FileUploadMiscError",
            f"The file name {name!r} is not UTF-8: it cannot be a blob name",
        ) from None
    try:
        with open(path, "rb") as data:
            client.upload_blob(name, data, overwrite=True)
    except ResourceNotFoundError as exc:
        raise FileError(
            "FileUploadContainerNotFound", f"The container {bare_url(container_url)} does not exist"
        ) from exc
    except AzureError as exc:
        raise FileError(
            "FileUploadMiscError",
            f"Uploading {name} to {bare_url(container_url)} failed: {type(exc).__name__}",
        ) from exc
