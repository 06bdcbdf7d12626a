"""``batchflow emulator``: serve the Batch emulator standalone, like Azurite serves Storage.

Prints where it listens and the environment lines that point batchflow (or any Batch SDK
program) at it, then serves until Ctrl-C (exit 130) or SIGTERM (exit 0).

The key comes from ``--key``, else ``$BATCHFLOW_EMULATOR_KEY`` (which keeps it out of ``ps``),
else it is the public development key. Only the development key is ever printed. A
non-loopback ``--host`` needs a key of one's own: the development key is public.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import threading
import time
from pathlib import Path

from batchflow.commands._common import out, say
from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.http.auth import decode_key
from batchflow.emulator.kinds import Json
from batchflow.emulator.node import host_guard
from batchflow.emulator.server import EmulatorServer
from batchflow.emulator.state.node_ops import parse_applications
from batchflow.emulator.state.quotas import Quotas, account_quotas
from batchflow.errors import ConfigError, UsageError
from batchflow.net import is_loopback

# How soon the serving loop sees a SIGTERM or the service's own stop.
_STOP_POLL_S = 0.1

KEY_ENV = "BATCHFLOW_EMULATOR_KEY"
# Batch account names: 3 to 24 lowercase letters and digits.
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")


def resolve_key(key: str | None) -> str:
    """The account key to serve with: ``--key``, else ``$BATCHFLOW_EMULATOR_KEY``, else the
    development key. An empty or non-base64 key is a ConfigError (exit 2), never the dev key."""
    source = "--key"
    if key is None:
        key, source = os.environ.get(KEY_ENV), KEY_ENV
    if key is None:
        return DEV_KEY
    if not key.strip():
        raise ConfigError(f"{source} is empty; give a base64 account key or leave it out")
    decode_key(key.strip())
    return key.strip()


def quotas_from_flags(
    profile: str,
    families: tuple[str, ...],
    low_priority: int | None,
    active_jobs: int | None = None,
) -> Quotas:
    """The account's quotas from ``--account-profile`` and the quota flags (exit 2 if bad)."""
    try:
        return account_quotas(profile, families, low_priority, active_jobs)
    except ValueError as exc:
        raise UsageError(f"--account-profile/--dedicated-cores-quota: {exc}") from None


def applications_from_flags(flags: tuple[str, ...]) -> tuple[Json, ...]:
    """The account's applications from ``--application`` flags (exit 2 if one is bad)."""
    try:
        return parse_applications(flags)
    except ValueError as exc:
        raise UsageError(f"--application: {exc}") from None


def check_account(account: str) -> str:
    """The account name, if Batch would accept it (3-24 lowercase letters and digits)."""
    if not _ACCOUNT.match(account):
        raise UsageError(
            f"--account {account!r} is not a Batch account name: use 3 to 24 lowercase "
            "letters and digits"
        )
    return account


def check_host(host: str, key: str) -> None:
    """Refuse to serve the public development key beyond loopback; warn with a real key."""
    if is_loopback(host):
        return
    if key == DEV_KEY:
        raise UsageError(
            f"refusing to listen on {host} with the public development key: anyone on the "
            f"network could run commands on this machine; pass a key of your own with "
            f"{KEY_ENV} or --key (e.g. openssl rand -base64 32)"
        )
    say(
        f"warning: listening on {host}, reachable from the network; anyone who knows the "
        "account key can run commands on this machine"
    )


def emulator_cmd(
    host: str,
    port: int,
    data: str,
    account: str | None,
    key: str | None,
    nodes_max: int | None,
    access_log: bool = False,
    quotas: Quotas | None = None,
    applications: tuple[Json, ...] = (),
) -> int:
    """Serve until interrupted; the exit code says how it ended."""
    # Every check runs (exit 2) before anything is started.
    key = resolve_key(key)
    account = check_account(DEV_ACCOUNT if account is None else account)
    check_host(host, key)
    if access_log:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = threading.Event()
    server = EmulatorServer(
        Path(data),
        account,
        key,
        host,
        port,
        nodes_max,
        allow_remote=True,
        access_log=access_log,
        on_failure=lambda _exc: stop.set(),
        quotas=quotas,
        applications=applications,
    )

    main = threading.current_thread() is threading.main_thread()
    terminated: list[int] = []  # SIGTERM: the way a service manager stops it (exit 0)
    previous = signal.signal(signal.SIGTERM, lambda n, _f: terminated.append(n)) if main else None
    try:
        host_guard.guard()  # tasks are children of this process: keep its key from them
        server.start()
        _announce(server, Path(data))
        # Short sleeps, never Event.wait(): a signal handler runs in this thread, and one that
        # raised (or set an Event) inside wait() broke or deadlocked its lock ("release
        # unlocked lock" seen in CI). A sleep holds no lock, and the handler only appends.
        while not terminated and not stop.is_set():
            time.sleep(_STOP_POLL_S)
        if terminated:
            return 0
        server.check()  # stopped on its own (disk full, a dead thread): say why, exit 3
        return 0
    except KeyboardInterrupt:
        say("Interrupted (^C), stopping the emulator.")
        return 130
    finally:
        server.stop()
        if main:
            signal.signal(signal.SIGTERM, previous)


def _announce(server: EmulatorServer, data: Path) -> None:
    # A key of one's own is never echoed: terminals are logged and shared.
    shown = server.key if server.key == DEV_KEY else "<the key you passed>"
    out(f"Azure Batch emulator listening on {server.url}")
    out(f"  account: {server.account}")
    out(f"  key:     {shown}")
    out(f"  data:    {data.resolve()}")
    out("To use it from a shell:")
    out(f"  export AZURE_BATCH_ENDPOINT={shlex.quote(server.url)}")
    out(f"  export AZURE_BATCH_ACCOUNT={shlex.quote(server.account)}")
    out(f"  export AZURE_BATCH_ACCESS_KEY={shlex.quote(shown)}")
    out("Press Ctrl-C to stop.")
