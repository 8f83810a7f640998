"""Rate limits in Redis (the ``limits`` library), shared by every ``web`` process."""

from __future__ import annotations

import math
import time

import redis

from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from api.errors import ApiError


REDIS_CONNECTIONS_MAX = 50
REDIS_WAIT_SECONDS = 5


class RateLimiter:
    def __init__(self, redis_url: str) -> None:
        uri = "redis+" + redis_url if redis_url.startswith("unix://") else redis_url
        # A blocking pool: a burst of requests (a thousand sockets connecting at once)
        # waits for a connection instead of failing with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(
            redis_url, max_connections=REDIS_CONNECTIONS_MAX, timeout=REDIS_WAIT_SECONDS)
        self._limiter = SlidingWindowCounterRateLimiter(RedisStorage(uri, connection_pool=pool))

    def hit(self, limit: str | RateLimitItem, *identity: str) -> None:
        """Count one request for ``identity`` under ``limit`` (e.g. "10/minute"), or 429."""
        item = parse(limit) if isinstance(limit, str) else limit
        if self._limiter.hit(item, *identity):
            return
        reset_at = self._limiter.get_window_stats(item, *identity).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(429, "rate_limited",
                       f"too many requests ({item}); retry after {retry_after} s",
                       headers={"Retry-After": str(retry_after)})

    def reset(self) -> None:
        self._limiter.storage.reset()
