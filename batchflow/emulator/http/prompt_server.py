"""``PromptServer``: uvicorn's Server, stopping as soon as asked (for ``EmulatorServer``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn


class PromptServer(uvicorn.Server):
    """uvicorn's Server, stopping as soon as asked. Its main loop looks at
    ``should_exit`` every 0.1 s and its shutdown sleeps 0.1 s more before looking at open
    connections: 0.2 s per stop, and tests and the local target start and stop often."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None

    def request_exit(self) -> None:
        """Ask the server to stop (from any thread), waking its main loop now."""
        self.should_exit = True
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(wakeup.set)

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            # The 0.1 s cadence stays for on_tick's once-a-second Date header refresh.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close at once
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.config.timeout_graceful_shutdown or 0)
        state = self.server_state
        while (state.connections or state.tasks) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        for task in state.tasks:
            task.cancel(msg="the emulator is stopping")
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()
