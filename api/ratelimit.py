"""Rate limits in Redis (the ``limits`` library), shared by every ``web`` process.

Every API request is counted against two limits (its address's and its caller's), and
a signed request also claims its signature (see ``api.auth``): ``admit`` does all of it
in one Redis round trip, with the library's own sliding-window script in a pipeline.
Concurrent requests share their round trips (``api.coalesced``).
"""

from __future__ import annotations

import math
import time

import redis

from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from api.coalesced import Coalesced
from api.errors import ApiError


REDIS_CONNECTIONS_MAX = 50
REDIS_WAIT_SECONDS = 5
# A Redis that does not answer (paused, or its host gone) fails the request within
# seconds, as a 503 (``api.errors``), instead of holding it for the OS's TCP timeout.
REDIS_TIMEOUTS = {"socket_timeout": 3.0, "socket_connect_timeout": 1.0}
Limit = tuple[str, tuple[str, ...]]      # ("100/minute", identity), e.g. ("ip", "1.2.3.4")


class RateLimiter:
    def __init__(self, redis_url: str) -> None:
        uri = "redis+" + redis_url if redis_url.startswith("unix://") else redis_url
        # A blocking pool: a burst of requests (a thousand sockets connecting at once)
        # waits for a connection instead of failing with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(
            redis_url, max_connections=REDIS_CONNECTIONS_MAX, timeout=REDIS_WAIT_SECONDS,
            **REDIS_TIMEOUTS)
        self._storage = RedisStorage(uri, connection_pool=pool)
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self.coalesced = Coalesced(pool)   # shared with the web's announcements
        self._items: dict[str, RateLimitItem] = {}

    def ping(self) -> None:
        """Raises a redis error unless Redis answers."""
        answer, = self.coalesced.send([("PING",)])
        if isinstance(answer, Exception):
            raise answer

    def hit(self, limit: str, *identity: str) -> None:
        """Count one request for ``identity`` under ``limit`` (e.g. "10/minute"), or 429."""
        self.admit([(limit, identity)])

    def admit(self, limits: list[Limit], claim: tuple[str, int] | None = None) -> bool:
        """Count one request under each limit, or 429 naming the first exceeded; and set
        ``claim`` = (key, seconds) if absent. One round trip; True if the claim was new."""
        if not limits and claim is None:
            return False
        answers = self._send(limits, claim)
        if any(isinstance(answer, redis.exceptions.NoScriptError) for answer in answers):
            # Redis restarted and forgot the script: load it, and count again (only the
            # counting failed; the claim, if any, was answered).
            script = self._storage.lua_acquire_sliding_window
            self._storage.get_connection().script_load(script.script)
            answers[:len(limits)] = self._send(limits, None)
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        for (limit, identity), acquired in zip(limits, answers):
            if not acquired:
                self._refuse(self._item(limit), identity)
        return claim is not None and bool(answers[-1])

    def _send(self, limits: list[Limit], claim: tuple[str, int] | None) -> list:
        storage = self._storage
        commands: list[tuple] = []
        for limit, identity in limits:
            item = self._item(limit)
            # The keys and arguments of the library's own SlidingWindowCounter hit.
            key = item.key_for(*identity)
            commands.append(("EVALSHA", storage.lua_acquire_sliding_window.sha, 2,
                             storage.prefixed_key(storage._previous_window_key(key)),
                             storage.prefixed_key(storage._current_window_key(key)),
                             item.amount, item.get_expiry(), 1))
        if claim is not None:
            commands.append(("SET", claim[0], 1, "NX", "EX", claim[1]))
        return self.coalesced.send(commands)

    def _item(self, limit: str) -> RateLimitItem:
        if limit not in self._items:
            self._items[limit] = parse(limit)
        return self._items[limit]

    def _refuse(self, item: RateLimitItem, identity: tuple[str, ...]) -> None:
        reset_at = self._limiter.get_window_stats(item, *identity).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(429, "rate_limited",
                       f"too many requests ({item}); retry after {retry_after} s",
                       headers={"Retry-After": str(retry_after)})

    def reset(self) -> None:
        self._limiter.storage.reset()
