"""Facts about the local disk that several layers share: where batchflow keeps its state beside
a spec, and a file's MD5 (what Blob Storage's Content-MD5 holds)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# Beside the spec: the local target's state (emulator database, blobs) and downloads.json.
STATE_DIR = ".batchflow"
_CHUNK = 1 << 20


def file_md5(path: Path) -> bytes:
    """The raw 16-byte MD5 digest of a file's content, read a megabyte at a time."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` as ``path``: into a new file of a name of its own (``mkstemp``: O_EXCL,
    so never through a symbolic link planted at a name known in advance), renamed over
    ``path``; a process killed while writing leaves the previous content whole."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
