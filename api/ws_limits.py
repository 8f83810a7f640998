"""What one WebSocket may do: how many messages a second, and from which origin.

Kept apart from the hub so that every stream protocol served on it (the native one and
the Binance-compatible one) applies the same bounds.

The origin check. The socket authenticates in band (a token or a signature in a
message), never by cookie, so a page of another origin gains no one's access by opening
it. What the check still denies is the use of visitors' browsers by such a page: to open
sockets from their addresses (each with its own rate limits). A browser always sends the
page's origin, and page scripts cannot change it; other clients may send anything, or
nothing. So a socket is served when it has no Origin (a bot), comes from the website
(``SITE_ORIGIN``), or from the API's own origin: ``API_PUBLIC_URL``'s, or the host the
client reached (its ``Host``), which is what ``websocket-client`` sends by default. A
page whose origin is the API's own host is one that any same-origin request could make
already (DNS rebinding reaches REST the same way), so accepting it adds no risk.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable
from urllib.parse import urlsplit

# Refused messages a client may accumulate (each is forgiven after a second) before it is
# disconnected: a client that keeps sending while refused is abusing, not bursting.
REFUSALS_MAX = 20
REFUSALS_FORGIVEN_PER_SECOND = 1.0
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}

ACCEPTED, REFUSED, EXHAUSTED = "accepted", "refused", "exhausted"


class MessageBudget:
    """A token bucket per socket: ``rate_per_second`` messages, bursts of ``burst``.

    ``take()`` answers ACCEPTED, REFUSED (answer with ``rate_limited``) or EXHAUSTED
    (more than REFUSALS_MAX refusals outstanding: end the socket)."""

    def __init__(self, rate_per_second: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_second, self.burst, self._clock = rate_per_second, burst, clock
        self._tokens = float(burst)
        self._refusals = 0.0
        self._updated = clock()

    def take(self) -> str:
        now = self._clock()
        elapsed, self._updated = max(0.0, now - self._updated), now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_second)
        self._refusals = max(0.0, self._refusals - elapsed * REFUSALS_FORGIVEN_PER_SECOND)
        if self._tokens >= 1:
            self._tokens -= 1
            return ACCEPTED
        self._refusals += 1
        return EXHAUSTED if self._refusals > REFUSALS_MAX else REFUSED

    def retry_after_seconds(self) -> float:
        """How long until the next message would be accepted."""
        return max(0.0, (1 - self._tokens) / self.rate_per_second)


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """Whether a socket with this ``Origin`` header, opened to ``Host``, may be served:
    no Origin, one of ``allowed`` (full origins), or the host the client reached."""
    if origin is None:
        return True
    theirs = _origin(origin)
    if theirs is None:
        return False  # "null" (a sandboxed page, a file) or malformed
    if any(theirs == _origin(_without_path(mine)) for mine in allowed):
        return True
    reached = _parts("http://" + host) if host else None
    # The scheme is not compared: behind a TLS proxy the Origin says https, the socket http.
    return reached is not None and \
        (reached[1], reached[2] or _DEFAULT_PORTS[theirs[0]]) == theirs[1:]


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port filled in; None if it is not one."""
    parts = _parts(url)
    if parts is None:
        return None
    scheme, host, port = parts
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def _without_path(url: str) -> str:
    """A configured URL's origin part (``API_PUBLIC_URL`` may name a path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _parts(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or \
            parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port
