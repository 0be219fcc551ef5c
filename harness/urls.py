"""Where a URL points: the one check every tool makes before it sends traffic (loopback, or the real service)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is a loopback address or ``localhost`` (nothing leaves the machine)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
