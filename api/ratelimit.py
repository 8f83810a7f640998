"""Rate limits in Redis (the ``limits`` library), shared by every ``web`` process.

Every API request is counted against two limits (its address's and its caller's), and
a signed request also claims its signature (see ``api.auth``): ``admit`` does all of it
in at most one Redis round trip, and none for a caller far from its limits, whose
requests are counted here and sent together every 0.1 s (``api.rate_counts``).
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
from api.rate_counts import WINDOW_SCRIPT, RateCounts
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
        self.counts = RateCounts(self.coalesced.send, lambda: self._storage.get_connection()
                                 .script_load(WINDOW_SCRIPT))
        self._items: dict[str, RateLimitItem] = {}

    def ping(self) -> None:
        """Raises a redis error unless Redis answers."""
        answer, = self.coalesced.send([("PING",)])
        if isinstance(answer, Exception):
            raise answer

    def hit(self, limit: str, *identity: str) -> None:
        """Count one request for ``identity`` under ``limit`` (e.g. "10/minute") in Redis
        itself (never counted here first: log-ins, sign-ups), or 429."""
        self.admit([(limit, identity)], exact=True)

    def admit(self, limits: list[Limit], claim: tuple[str, int] | None = None,
              exact: bool = False) -> bool:
        """Count one request under each limit, or 429 naming the first exceeded; and set
        ``claim`` = (key, seconds) if absent. At most one round trip (none when every
        limit is counted here: ``api.rate_counts``); True if the claim was new."""
        asking = []
        for limit, identity in limits:
            item = self._item(limit)
            key = (limit, identity)
            count = self.counts.count(key, item, lambda: self._window_keys(item, identity))
            if exact or not self.counts.counted_here(key, count):
                asking.append((item, identity, count, self.counts.asking(count, 1)))
        if not asking and claim is None:
            return False
        commands = [asked for *_, asked in asking]
        if claim is not None:
            commands.append((("SET", claim[0], 1, "NX", "EX", claim[1]), 0, 0.0))
        try:
            answers = self.counts.ask(commands)
        except Exception as error:
            answers = [error] * len(commands)
        refused, failed = None, None
        for (item, identity, count, (_, counted, asked_at)), answer in zip(asking, answers):
            try:
                if not self.counts.answered(count, counted, asked_at, answer):
                    refused = refused or (item, identity)
            except Exception as error:   # each count takes its answer back first
                failed = failed or error
        if failed is None and claim is not None and isinstance(answers[-1], Exception):
            failed = answers[-1]
        if failed is not None:
            raise failed
        if refused is not None:
            self._refuse(*refused)
        return claim is not None and bool(answers[-1])

    def _window_keys(self, item: RateLimitItem, identity: tuple[str, ...]) -> tuple[str, str]:
        """The library's own keys of ``identity``'s previous and current windows."""
        storage, key = self._storage, item.key_for(*identity)
        return (storage.prefixed_key(storage._previous_window_key(key)),
                storage.prefixed_key(storage._current_window_key(key)))

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
