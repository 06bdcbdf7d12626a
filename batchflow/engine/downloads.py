"""What a run may overwrite in the download directory: only files it downloaded itself.

``.batchflow/downloads.json`` beside the spec maps each file batchflow wrote (absolute path)
to the MD5 of what it wrote. A file that exists but is not in it, or whose content no longer
matches (the user edited it), is the user's: the run refuses before writing anything, unless
the file already holds exactly what would be downloaded (a rerun after ``batchflow down``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from batchflow.disk import file_md5
from batchflow.errors import UsageError

MANIFEST = "downloads.json"
SHOWN = 20
PARTIAL_SUFFIX = ".batchflow-partial"  # a download (or local blob copy) in progress


def open_partial(directory: Path) -> tuple[int, Path]:
    """A new, empty temporary file in ``directory`` to write a download into before renaming
    it into place. Created with mode 0666 less the umask, as any file a user's program makes:
    ``mkstemp``'s 0600 would stay on the renamed file, and outputs are the user's files."""
    directory.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        path = directory / f".{secrets.token_hex(8)}{PARTIAL_SUFFIX}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:  # 64 random bits: in practice never
            continue


def sweep_partials(root: Path) -> int:
    """Remove the temporary files of downloads a killed run (``kill -9``) left under
    ``root``; returns how many. Only names batchflow makes (``.*.batchflow-partial``)."""
    swept = 0
    if root.is_dir():
        for path in root.rglob(f".*{PARTIAL_SUFFIX}"):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    path.unlink()
                    swept += 1
    return swept


def md5_hex(path: Path) -> str:
    """Hex MD5 of a file's content."""
    return file_md5(path).hex()


class Manifest:
    """The files batchflow downloaded, recorded in ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = {}
        # RecursionError: nested deeper than the parser goes, as damaged as any bad JSON
        with contextlib.suppress(OSError, ValueError, RecursionError):
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                self.entries = {str(k): str(v) for k, v in raw.items()}

    @staticmethod
    def _key(dest: Path) -> str:
        return str(dest.absolute())

    def ours(self, dest: Path, incoming_md5: str | None = None) -> bool:
        """Whether ``dest`` is absent, or is a file this manifest says batchflow wrote and
        that still holds what it wrote, or already holds ``incoming_md5``."""
        if not os.path.lexists(dest):
            return True
        if dest.is_symlink() or not dest.is_file():
            return False
        current = md5_hex(dest)
        return current in (self.entries.get(self._key(dest)), incoming_md5)

    def foreign(self, dests: Iterable[Path]) -> list[Path]:
        """The destinations that exist and are not (or no longer) batchflow's."""
        return [d for d in dests if not self.ours(d)]

    @staticmethod
    def refuse(theirs: Sequence[Path]) -> None:
        """Raise the refusal (UsageError, exit 2) listing ``theirs``, if any."""
        if theirs:
            listed = ", ".join(str(d) for d in theirs[:SHOWN])
            more = f" and {len(theirs) - SHOWN} more" if len(theirs) > SHOWN else ""
            raise UsageError(
                f"refusing to download outputs over {len(theirs)} existing files batchflow did "
                f"not write (or that changed since): {listed}{more}. Move or delete them, or "
                "set download: to another directory, then run again; nothing was downloaded"
            )

    def record(self, dest: Path) -> None:
        """Remember that batchflow wrote ``dest`` with its current content."""
        self.entries[self._key(dest)] = md5_hex(dest)

    def save(self) -> None:
        """Write the manifest atomically (temporary file, then rename)."""
        if not self.entries:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".", suffix=".partial")
        except OSError as exc:
            raise UsageError(
                f"cannot record the downloads in {self.path}: {exc.strerror}"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.entries, fh, indent=0, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
