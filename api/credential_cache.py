"""What a ``web`` process remembers of the sessions and API keys it looked up.

Authenticating a request read PostgreSQL every time (a session) or every 1 to 2 s (a
key): for a bot polling its balances the lookup was a third of the request's cost. Each
lookup is now kept for at most ``CREDENTIAL_CACHE_SECONDS`` (a random part of it, from
half to all, so that lookups made together are not made again together: a burst of them
once opened connections beyond the pool's). That is the bound of a revocation, a
log-out, an expiry or a freeze in the other processes; the process that ends a session
or revokes a key forgets it at once.
"""

from __future__ import annotations

import random
import time
from typing import Generic, Hashable, TypeVar

CREDENTIAL_CACHE_SECONDS = 2.0
CREDENTIAL_CACHE_SIZE_MAX = 10_000

Found = TypeVar("Found")


class CredentialCache(Generic[Found]):
    """Lookups by key, each kept from half to all of ``seconds``; at most ``size_max``
    (when full it is emptied: a flood of unknown keys costs lookups, never memory)."""

    def __init__(self, seconds: float = CREDENTIAL_CACHE_SECONDS,
                 size_max: int = CREDENTIAL_CACHE_SIZE_MAX) -> None:
        self.seconds, self.size_max = seconds, size_max
        self._found: dict[Hashable, tuple[float, Found]] = {}

    def get(self, key: Hashable) -> tuple[bool, Found | None]:
        """(True, what was found) while it is kept; (False, None) otherwise."""
        kept = self._found.get(key)
        if kept is None or time.monotonic() >= kept[0]:
            return False, None
        return True, kept[1]

    def until(self, key: Hashable) -> float | None:
        """When (``time.monotonic``) what was found for ``key`` stops being kept."""
        kept = self._found.get(key)
        return None if kept is None else kept[0]

    def holds(self, key: Hashable) -> bool:
        return self.get(key)[0]

    def put(self, key: Hashable, found: Found, seconds_max: float | None = None) -> None:
        """Keep ``found`` (at most ``seconds_max`` too, e.g. until a session expires)."""
        if len(self._found) >= self.size_max:
            self._found.clear()
        seconds = self.seconds * random.uniform(0.5, 1)
        if seconds_max is not None:
            seconds = min(seconds, seconds_max)
        self._found[key] = (time.monotonic() + seconds, found)

    def forget(self, key: Hashable) -> None:
        self._found.pop(key, None)
