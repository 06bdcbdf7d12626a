"""The local target's blob store: one directory per container under ``.batchflow/blobs/``.

Blob ``a/b.txt`` of container ``c`` is the file ``<root>/c/a/b.txt``. Batch nodes of the
emulator reach it through ``file://`` URLs (a local extension of resourceFiles and
outputFiles). Writes go through a temporary file and a rename, so a run killed mid-copy never
leaves a half-written blob that a later listing would take as current.

Files carry no Content-MD5, so each blob ``c/a/b.txt`` written here gets a small record
``<root>/.md5/c/a/b.txt`` of ``size mtime_ns md5``: a rerun re-hashes only blobs whose size or
mtime no longer match (large inputs are not read again on every run). Blobs the emulator
writes (outputs) have no record and are hashed when listed. A blob under ``RECORD_MIN_BYTES``
gets no record and is always hashed: reading it costs what reading its record would, and a
record is one more file to create for each of a workflow's many small outputs.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from pathlib import Path, PurePosixPath

from batchflow.disk import file_md5, replace_atomically
from batchflow.engine.downloads import PARTIAL_SUFFIX, open_partial
from batchflow.engine.protocols import Access
from batchflow.errors import BackendError

_TMP_SUFFIX = PARTIAL_SUFFIX
RECORD_MIN_BYTES = 64 << 10


def _atomic_copy(src: Path, dest: Path) -> int:
    fd, tmp = open_partial(dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest.stat().st_size


def name_conflict(root: Path, name: str) -> str | None:
    """Why blob ``name`` cannot be a file under container directory ``root``, or None. On a
    file system a name cannot be both a file and a directory, as in a real container
    ``o.txt`` and ``o.txt/y`` can: say so, naming both blobs."""
    parts = PurePosixPath(name).parts
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if (root / prefix).is_file():
            return (
                f"blob {name!r} cannot be stored: blob {prefix!r} exists, and the local blob "
                "store cannot hold a blob and a folder of the same name (rename one of the "
                "outputs, or use --storage azurite)"
            )
    if (root / name).is_dir():
        return (
            f"blob {name!r} cannot be stored: blobs named {name + '/...'!r} exist, and the "
            "local blob store cannot hold a blob and a folder of the same name (rename one of "
            "the outputs, or use --storage azurite)"
        )
    return None


class LocalBlobStore:
    """A ``BlobStore`` over a directory (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _container(self, name: str) -> Path:
        if not name or "/" in name or name in (".", ".."):
            raise BackendError(f"invalid container name {name!r}", code="InvalidResourceName")
        return self.root / name

    def _blob_path(self, container: str, blob: str) -> Path:
        parts = PurePosixPath(blob).parts
        if not parts or blob.startswith("/") or any(p in ("..", ".") for p in parts):
            raise BackendError(f"invalid blob name {blob!r}", code="InvalidResourceName")
        return self._container(container).joinpath(*parts)

    def ensure_container(self, name: str) -> None:
        """Create the container's directory."""
        self._container(name).mkdir(parents=True, exist_ok=True)

    def _record_path(self, container: str, blob: str) -> Path:
        return self.root / ".md5" / container / blob

    def _record(self, container: str, blob: str, md5: bytes) -> None:
        st = self._blob_path(container, blob).stat()
        if st.st_size < RECORD_MIN_BYTES:
            return
        path = self._record_path(container, blob)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Its name is known in advance: writing to it would follow a link planted there.
        replace_atomically(path, f"{st.st_size} {st.st_mtime_ns} {md5.hex()}".encode("ascii"))

    def _cached_md5(self, container: str, blob: str, path: Path) -> bytes:
        st = path.stat()
        if st.st_size < RECORD_MIN_BYTES:
            return file_md5(path)
        try:
            size, mtime, digest = self._record_path(container, blob).read_text("ascii").split()
            if (int(size), int(mtime)) == (st.st_size, st.st_mtime_ns):
                return bytes.fromhex(digest)
        except (OSError, ValueError):
            pass
        md5 = file_md5(path)
        self._record(container, blob, md5)
        return md5

    def list_md5(self, container: str) -> dict[str, bytes | None]:
        """Every blob with the MD5 of its content (from its record while still current)."""
        base = self._container(container)
        return {n: self._cached_md5(container, n, base / n) for n in self.list_blobs(container)}

    def upload(self, container: str, blob: str, path: Path, md5: bytes) -> int:
        """Copy ``path`` in as ``blob`` and record ``md5`` (the caller hashed the file)."""
        dest = self._blob_path(container, blob)
        if why := name_conflict(self._container(container), blob):
            raise BackendError(why, code="BlobNameConflict")
        size = _atomic_copy(path, dest)
        self._record(container, blob, md5)
        return size

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        """Blob names (relative paths, ``/``-separated), partial copies excluded."""
        base = self._container(container)
        if not base.is_dir():
            return []
        names = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.endswith(_TMP_SUFFIX):
                name = path.relative_to(base).as_posix()
                if name.startswith(prefix):
                    names.append(name)
        return sorted(names)

    def download(self, container: str, blob: str, dest: Path) -> int:
        """Copy the blob to ``dest``."""
        src = self._blob_path(container, blob)
        if not src.is_file():
            raise BackendError(f"blob {blob!r} not found in {container!r}", code="BlobNotFound")
        return _atomic_copy(src, dest)

    def container_url(self, container: str, access: Access, expiry: _dt.datetime) -> str:
        """``file://`` URL of the container's directory (no signature: it is local)."""
        del access, expiry
        path = self._container(container)
        path.mkdir(parents=True, exist_ok=True)
        return path.as_uri()

    def delete_container(self, name: str) -> None:
        """Remove the container's directory."""
        shutil.rmtree(self._container(name), ignore_errors=True)
        shutil.rmtree(self.root / ".md5" / name, ignore_errors=True)

    def delete_blobs(self, container: str, prefix: str) -> int:
        """Remove the files (and their MD5 records) under ``prefix``."""
        assert prefix
        names = self.list_blobs(container, prefix)
        for name in names:
            self._blob_path(container, name).unlink(missing_ok=True)
            self._record_path(container, name).unlink(missing_ok=True)
        return len(names)

    def delete_blob(self, container: str, blob: str) -> None:
        """Remove one file (and its MD5 record); an absent one is no error."""
        self._blob_path(container, blob).unlink(missing_ok=True)
        self._record_path(container, blob).unlink(missing_ok=True)

    def describe(self) -> str:
        """The directory holding the containers."""
        return str(self.root)
