"""The HTTP transport both SDK clients use: a requests session sized for our threads.

For loopback endpoints (the emulator, Azurite) the session ignores proxy settings from the
environment: requests would otherwise re-read every environment variable on each request
(~1 ms of CPU each), and a proxy never applies to 127.0.0.1 anyway.

Connect and read timeouts are bounded (``BATCHFLOW_CONNECT_TIMEOUT`` and
``BATCHFLOW_READ_TIMEOUT``, in seconds, override them: for a slow link, or a test that
cannot wait a minute for a server that never answers).
"""

from __future__ import annotations

import os

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter

from batchflow.errors import ConfigError

POOL_SIZE = 32  # connections: uploads, downloads and task adds run from ~16 threads
CONNECT_TIMEOUT_S = 10.0  # a TCP connect to Azure takes milliseconds; 10 s means it is down
# Between bytes of an answer: Storage answers a 4 MiB block within seconds, and the wait
# is paid again for each retry of a server that accepts and never answers.
READ_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_ENV = "BATCHFLOW_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "BATCHFLOW_READ_TIMEOUT"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise ConfigError(f"{name} must be a number of seconds (0 < s <= 3600), not {raw!r}")
    return value


def timeouts() -> tuple[float, float]:
    """(connect, read) timeouts in seconds: the defaults or the environment's."""
    return (
        _seconds(CONNECT_TIMEOUT_ENV, CONNECT_TIMEOUT_S),
        _seconds(READ_TIMEOUT_ENV, READ_TIMEOUT_S),
    )


def requests_transport(loopback: bool) -> RequestsTransport:
    """A transport with a connection pool of ``POOL_SIZE`` and bounded timeouts."""
    session = requests.Session()
    session.trust_env = not loopback
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    connect, read = timeouts()
    return RequestsTransport(
        session=session, session_owner=True, connection_timeout=connect, read_timeout=read
    )
