"""The local target's blob store: one directory per container under ``.batchflow/blobs/``.

Blob ``a/b.txt`` of container ``c`` is the file ``<root>/c/a/b.txt``. Batch nodes of the
emulator reach it through ``file://`` URLs (a local extension of resourceFiles and
outputFiles). Writes go through a temporary file and a rename, so a run killed mid-copy never
leaves a half-written blob that a later listing would take as current.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from batchflow.engine.protocols import Access
from batchflow.errors import BackendError

_TMP_SUFFIX = ".batchflow-partial"


def _md5_of(path: Path) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.digest()


def _atomic_copy(src: Path, dest: Path) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".", suffix=_TMP_SUFFIX)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest.stat().st_size


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

    def list_md5(self, container: str) -> dict[str, bytes | None]:
        """Every blob with the MD5 of its content (computed: files carry no metadata)."""
        base = self._container(container)
        return {name: _md5_of(base / name) for name in self.list_blobs(container)}

    def upload(self, container: str, blob: str, path: Path, md5: bytes) -> int:
        """Copy ``path`` in as ``blob`` (``md5`` is implied by the content)."""
        del md5
        return _atomic_copy(path, self._blob_path(container, blob))

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

    def describe(self) -> str:
        """The directory holding the containers."""
        return str(self.root)
