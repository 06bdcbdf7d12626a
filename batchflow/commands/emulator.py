"""``batchflow emulator``: serve the Batch emulator standalone, like Azurite serves Storage.

Prints where it listens and the environment lines that point batchflow (or any Batch SDK
program) at it, then serves until Ctrl-C (exit 130) or SIGTERM (exit 0).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from batchflow.commands._common import out, say
from batchflow.emulator.auth import decode_key
from batchflow.emulator.server import EmulatorServer, is_loopback


def emulator_cmd(
    host: str,
    port: int,
    data: str,
    account: str,
    key: str,
    nodes_max: int | None,
    access_log: bool = False,
) -> int:
    """Serve until interrupted; the exit code says how it ended."""
    decode_key(key)  # ConfigError (exit 2) before anything is started
    if access_log:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not is_loopback(host):
        say(
            f"warning: listening on {host}, reachable from the network; anyone who knows the "
            "account key can run commands on this machine"
        )
    server = EmulatorServer(
        Path(data), account, key, host, port, nodes_max, allow_remote=True, access_log=access_log
    )
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_term) if main else None
    server.start()
    try:
        _announce(server, Path(data))
        stop.wait()
        return 0
    except KeyboardInterrupt:
        say("Interrupted (^C), stopping the emulator.")
        return 130
    finally:
        server.stop()
        if main:
            signal.signal(signal.SIGTERM, previous)


def _announce(server: EmulatorServer, data: Path) -> None:
    out(f"Azure Batch emulator listening on {server.url}")
    out(f"  account: {server.account}")
    out(f"  key:     {server.key}")
    out(f"  data:    {data.resolve()}")
    out("To use it from a shell:")
    out(f"  export AZURE_BATCH_ENDPOINT={server.url}")
    out(f"  export AZURE_BATCH_ACCOUNT={server.account}")
    out(f"  export AZURE_BATCH_ACCESS_KEY={server.key}")
    out("Press Ctrl-C to stop.")
