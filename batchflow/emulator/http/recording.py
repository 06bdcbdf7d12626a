"""Every answer the emulator gives, handed to whoever listens (the test suite's conformance
check validates each against the Batch OpenAPI definition of its operation).

Off unless a recorder is added: then the pipeline builds one ``Exchange`` per answer, after
its last header is set. A streamed body (a file download) is not recorded, only its headers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass


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


Recorder = Callable[[Exchange], None]

_lock = threading.Lock()
_recorders: list[Recorder] = []


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
