"""How long and how much one HTTP client may hold the emulator, which any local user can reach.

uvicorn alone arms no timer on a connection until it has answered a request on it, and any byte
received cancels the keep-alive timer: a socket that sends nothing, or half a request head,
stays open for ever. Its ``limit_concurrency`` counts idle connections and answers 503 to the
next real request, so idle sockets would lock out the SDK. ``GuardedProtocol`` instead:

- closes a connection that has not sent a whole request head ``idle_timeout`` seconds after it
  opened or after its last answer (fresh, keep-alive and half-sent heads alike);
- keeps at most ``cap`` connections: above it, the connection idle the longest is closed (a
  request under way is never cut), so idle sockets cannot take the file descriptors the task
  runner needs, nor lock out a client that is actually sending requests.

The body's own limits (size per operation, ``body_timeout``) are the app's: it reads the body.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

# Raising the soft open-file limit to a hard limit of a million would make programs that close
# every descriptor up to it before exec (tasks inherit the limit) crawl; this is room enough.
_FD_LIMIT_TARGET = 8192
_MAX_CAP = 1024


@dataclass(frozen=True)
class HttpLimits:
    """Timeouts (seconds) and the connection cap (``None``: a quarter of the open-file limit,
    at most 1024, so the rest stays for the tasks' pipes and files)."""

    idle_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int | None = None

    def cap(self) -> int:
        """The most connections served at once."""
        if self.max_connections is not None:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(16, min(_MAX_CAP, soft // 4))


def raise_open_file_limit() -> None:
    """Raise this process's soft open-file limit towards its hard limit (up to 8192)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _FD_LIMIT_TARGET if hard == resource.RLIM_INFINITY else min(hard, _FD_LIMIT_TARGET)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with an idle clock and a connection cap (see the module doc)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits,
        cap: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        self._cap = cap
        self._idle_timer: asyncio.TimerHandle | None = None
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_idle_clock()
        if len(self.connections) > self._cap:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_idle_clock()

    @property
    def busy(self) -> bool:
        """A request head arrived and its answer is not complete yet."""
        return self.cycle is not None and not self.cycle.response_complete

    def _start_idle_clock(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self.idle_since = self.loop.time()
        self._idle_timer = self.loop.call_later(self._limits.idle_timeout, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        # A request that arrived meanwhile restarts the clock when it is answered.
        if not self.busy:
            self.transport.close()

    def _make_room(self) -> None:
        """Close the connection idle the longest (this new one if every other is busy)."""
        live = [c for c in self.connections if not c.transport.is_closing()]
        if len(live) <= self._cap:  # the others over the cap are already on their way out
            return
        idle = [c for c in live if isinstance(c, GuardedProtocol) and c is not self and not c.busy]
        victim = min(idle, key=lambda c: c.idle_since) if idle else self
        victim.transport.close()
