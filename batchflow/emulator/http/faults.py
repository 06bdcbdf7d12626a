"""Fault injection and per-operation request counters, for tests of clients' resilience.

A test sets ``{"errorRate": 0.1, "status": 503, "dropRate": 0.0, "operations": [...]}``
through the control surface; each counted request of a listed operation (all operations when
the list is empty) then fails with that status at that rate, or has its connection dropped:
closed without any response, as a crashed front end or a broken network would. Control-surface
requests are never faulted nor counted.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from batchflow.emulator import errors
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.kinds import Json

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_STATUS_ERRORS = {
    500: errors.internal_error,
    503: errors.server_busy,
}
_THROTTLED = (
    429,
    "TooManyRequests",
    "The request was throttled: too many requests. Retry after some time.",
)


@dataclass(frozen=True)
class FaultConfig:
    """What to inject: rates in [0, 1], the error status, the operations concerned."""

    error_rate: float = 0.0
    status: int = 503
    drop_rate: float = 0.0
    operations: frozenset[str] = frozenset()

    def applies_to(self, operation: str) -> bool:
        """Whether requests of ``operation`` are subject to these faults."""
        return not self.operations or operation in self.operations

    def to_json(self) -> Json:
        """The wire shape of this configuration (as the control surface accepts it)."""
        return {
            "errorRate": self.error_rate,
            "status": self.status,
            "dropRate": self.drop_rate,
            "operations": sorted(self.operations),
        }


def _rate(body: Json, name: str) -> float:
    value = body.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise errors.invalid_property_value(name, value, "Expected a number from 0 to 1.")
    return float(value)


def parse_config(body: Json, known_operations: frozenset[str]) -> FaultConfig:
    """A FaultConfig from a validated control body; 400 naming a bad rate, status or
    operation id (a typo would otherwise silently inject nothing)."""
    status = body.get("status", 503)
    if not 400 <= status <= 599:
        raise errors.invalid_property_value("status", status, "Expected an HTTP error status.")
    operations = frozenset(body.get("operations") or ())
    unknown = sorted(operations - known_operations)
    if unknown:
        known = ", ".join(sorted(known_operations))
        raise errors.invalid_property_value(
            "operations", unknown[0], f"Unknown operation id; known ones: {known}."
        )
    return FaultConfig(_rate(body, "errorRate"), status, _rate(body, "dropRate"), operations)


def error_for(status: int) -> BatchServiceError:
    """The BatchError an injected failure answers with (ServerBusy for 503, like Azure)."""
    make = _STATUS_ERRORS.get(status)
    if make is not None:
        return make()
    if status == _THROTTLED[0]:
        return BatchServiceError(*_THROTTLED)
    return BatchServiceError(status, "InjectedFault", "A fault injected by the local emulator.")


class Faults:
    """The current fault configuration and the request counters; thread-safe."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._counts: Counter[str] = Counter()
        self._random = random.Random(seed)

    @property
    def config(self) -> FaultConfig:
        """The configuration in force."""
        return self._config

    def configure(self, config: FaultConfig, seed: int | None = None) -> None:
        """Replace the configuration (a zero-rate config turns faults off); a ``seed`` makes
        the sequence of injected faults reproducible."""
        with self._lock:
            self._config = config
            if seed is not None:
                self._random.seed(seed)

    def counters(self) -> dict[str, int]:
        """Requests seen so far, per operation id (``Pool_Add``, ``Job_GetTaskCounts``...)."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """No faults, counters back to zero."""
        with self._lock:
            self._config = FaultConfig()
            self._counts.clear()

    def on_request(self, operation: str) -> str | None:
        """Count one request; return "drop", "error" or None (serve it normally)."""
        with self._lock:
            self._counts[operation] += 1
            config = self._config
            if not config.applies_to(operation):
                return None
            if config.drop_rate and self._random.random() < config.drop_rate:
                return "drop"
            if config.error_rate and self._random.random() < config.error_rate:
                return "error"
        return None


class DropUnsupported(RuntimeError):
    """The ASGI server in use does not let the emulator close a connection by itself."""


async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the client's connection without sending a byte of response.

    ASGI has no message for this, and a server answers 500 when an app fails before its
    response starts. uvicorn's ``send`` is a method of the request cycle that owns the
    transport, so the transport is closed directly; then this waits for the server to notice
    the disconnect, so that it neither logs nor tries to send anything more.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "close"):
        raise DropUnsupported("cannot drop the connection under this ASGI server")
    transport.close()
    try:
        await asyncio.wait_for(_until_disconnect(receive), timeout=5)
    except asyncio.TimeoutError:
        return


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
