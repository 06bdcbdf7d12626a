"""The answers the session's emulators give, wherever they run (see tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from batchflow.emulator.http import recording


class Answers:
    """Every answer the session's emulators give: in this process through a recorder, in
    subprocesses (the CLI's local target) through the files ``recording`` writes when
    ``BATCHFLOW_EMULATOR_RECORD`` names a directory. ``take()`` returns those not yet taken."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.seen: list[recording.Exchange] = []
        self._read: dict[Path, int] = {}

    def take(self) -> list[recording.Exchange]:
        taken = len(self.seen)
        batch, self.seen[:taken] = self.seen[:taken], []
        for path in sorted(self.where.glob("*.jsonl")):
            batch.extend(self._new_lines(path))
        return batch

    def _new_lines(self, path: Path) -> Iterator[recording.Exchange]:
        with path.open("rb") as f:
            f.seek(self._read.get(path, 0))
            data = f.read()
        whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self._read[path] = self._read.get(path, 0) + len(whole)
        for line in whole.splitlines():
            yield recording.Exchange.from_json(json.loads(line))
