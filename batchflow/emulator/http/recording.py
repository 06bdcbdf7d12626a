"""Every answer the emulator gives, handed to whoever listens (the test suite's conformance
check validates each against the Batch OpenAPI definition of its operation).

Off unless a recorder is added: then the pipeline builds one ``Exchange`` per answer, after
its last header is set. A streamed body (a file download) is not recorded, only its headers.
An emulator in another process (the CLI's local target, run by the end-to-end tests) records
to ``$BATCHFLOW_EMULATOR_RECORD/<pid>.jsonl`` when that variable names a directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Exchange:
    """One answered request: which route (method and path pattern, ``{}`` one segment,
    ``{**}`` the rest) at which api-version, and what went back."""

    operation: str
    method: str
    pattern: tuple[str, ...]
    api_version: str
    query: Mapping[str, str]
    request_headers: Mapping[str, str]
    status: int
    headers: Mapping[str, str]
    body: bytes | None

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["body"] = None if self.body is None else self.body.decode("latin-1")
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Exchange:
        body = doc["body"]
        return cls(
            **{
                **doc,
                "pattern": tuple(doc["pattern"]),
                "body": None if body is None else str(body).encode("latin-1"),
            }
        )


Recorder = Callable[[Exchange], None]
ENV = "BATCHFLOW_EMULATOR_RECORD"

_lock = threading.Lock()
_recorders: list[Recorder] = []
_to_file = False


def add(recorder: Recorder) -> Callable[[], None]:
    """Start handing every exchange to ``recorder``; returns what stops it."""
    with _lock:
        _recorders.append(recorder)

    def remove() -> None:
        with _lock:
            if recorder in _recorders:
                _recorders.remove(recorder)

    return remove


def active() -> bool:
    """Whether anyone listens (the pipeline builds no Exchange otherwise)."""
    return bool(_recorders)


def record(exchange: Exchange) -> None:
    with _lock:
        listeners = tuple(_recorders)
    for listener in listeners:
        listener(exchange)


def from_environment() -> None:
    """Record this process's answers to ``$BATCHFLOW_EMULATOR_RECORD/<pid>.jsonl`` when the
    variable is set (once per process; one line per answer, written whole). A process that
    already listens itself (the test session) is not also written to file."""
    global _to_file
    where = os.environ.get(ENV)
    with _lock:
        if not where or _to_file or _recorders:
            return
        _to_file = True
    path = Path(where) / f"{os.getpid()}.jsonl"
    write = threading.Lock()

    def to_file(exchange: Exchange) -> None:
        line = json.dumps(exchange.to_json(), ensure_ascii=True) + "\n"
        with write, path.open("a", encoding="ascii") as out:
            out.write(line)

    add(to_file)
