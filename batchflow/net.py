"""Small network facts shared by the emulator, the Azure adapters and the local target: the
one loopback check."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine only (the emulator, Azurite)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return is_loopback(host or "")
