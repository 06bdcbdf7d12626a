"""Facts about the local disk that several layers share: where batchflow keeps its state beside
a spec, and a file's MD5 (what Blob Storage's Content-MD5 holds)."""

from __future__ import annotations

import hashlib
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
