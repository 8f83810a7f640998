"""The client's address: the one function every limit and allow-list reads it through.

Behind nginx the direct peer (``REMOTE_ADDR``) is the proxy, and the client is named in
``X-Forwarded-For``, which anyone can also write. The header is believed only as far as
the proxies in ``TRUSTED_PROXIES`` (none by default) wrote it: read from its right end
(each proxy appends the address it was reached from), the client is the first address
that is not a trusted proxy. A peer that is not trusted is the client itself, whatever
it forwards; a hop that is not an address ends the walk at the last trusted one (a
client can write garbage only left of what the trusted proxy appended).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any, Iterable

from users.ip_allowlist import Network, client_address as normalized

FORWARDED_HOPS_MAX = 20        # hops read from the header's right end; the rest is ignored
_CACHED = "exchange.client_address"


def client_address(environ: dict[str, Any], trusted: Iterable[Network]) -> str:
    """The client's address for the request (or WebSocket) of ``environ``."""
    cached = environ.get(_CACHED)
    if cached is None:
        cached = environ[_CACHED] = resolved(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR", ""),
            tuple(trusted))
    return cached


@functools.lru_cache(maxsize=4096)   # pure, and asked the same for every request of a peer
def resolved(peer: str, forwarded_for: str, trusted: tuple[Network, ...]) -> str:
    """The pure rule: ``peer`` unless it is trusted, else the rightmost untrusted hop."""
    address = normalized(peer)
    if address is None or not _trusted(address, trusted):
        return str(address) if address is not None else peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops[-FORWARDED_HOPS_MAX:]):
        next_address = normalized(_without_port(hop))
        if next_address is None:
            break
        address = next_address
        if not _trusted(address, trusted):
            break
    return str(address)


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
             trusted: tuple[Network, ...]) -> bool:
    return any(address in network for network in trusted)


def _without_port(hop: str) -> str:
    """``[2001:db8::1]:443`` and ``192.0.2.1:443`` as some proxies write them."""
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop
