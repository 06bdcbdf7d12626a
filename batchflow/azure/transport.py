"""The HTTP transport both SDK clients use: a requests session sized for our threads.

For loopback endpoints (the emulator, Azurite) the session ignores proxy settings from the
environment: requests would otherwise re-read every environment variable on each request
(~1 ms of CPU each), and a proxy never applies to 127.0.0.1 anyway.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter

from batchflow.net import is_loopback

POOL_SIZE = 32  # connections: uploads, downloads and task adds run from ~16 threads
CONNECT_TIMEOUT_S = 10.0  # a TCP connect to Azure takes milliseconds; 10 s means it is down
READ_TIMEOUT_S = 120.0  # between bytes of an answer (large block transfers included)


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine."""
    return is_loopback(urlsplit(url).hostname or "")


def requests_transport(loopback: bool) -> RequestsTransport:
    """A transport with a connection pool of ``POOL_SIZE`` and bounded timeouts."""
    session = requests.Session()
    session.trust_env = not loopback
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(
        session=session,
        session_owner=True,
        connection_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )
