"""Rate limits in Redis (the ``limits`` library), shared by every ``web`` process.

Every API request is counted against two limits (its address's and its caller's), and
a signed request also claims its signature (see ``api.auth``): ``admit`` does all of it
in one Redis round trip, with the library's own sliding-window script in a pipeline.
Concurrent requests share their round trips (``Coalesced``).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from typing import Any

import redis

from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from api.errors import ApiError


REDIS_CONNECTIONS_MAX = 50
REDIS_WAIT_SECONDS = 5
COALESCED_CALLERS_MAX = 200
Limit = tuple[str, tuple[str, ...]]      # ("100/minute", identity), e.g. ("ip", "1.2.3.4")


class Coalesced:
    """Redis commands of concurrent callers sent together: one round trip on a connection
    of its own, with every caller's commands that arrived while the one before was in
    flight (as order entry's group commit). Each caller gets its own answers (an error
    answer, such as a forgotten script, in its place), or the error that ended the round
    trip. A pool checkout, a pipeline and a round trip per request were a sixth of the
    ``web`` process's CPU."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._waiting: queue.SimpleQueue[tuple[list[tuple], threading.Event, list]] = \
            queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, commands: list[tuple]) -> list[Any]:
        """The answers to ``commands``, as Redis gives them (SET: b"OK" or None)."""
        answered, answers = threading.Event(), []
        self._waiting.put((commands, answered, answers))
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_forever, daemon=True,
                                                name="redis-coalesced")
                self._sender.start()
        answered.wait()
        if isinstance(answers[0], BaseException):
            raise answers[0]
        return answers[0]

    def _send_forever(self) -> None:
        connection = self._pool.make_connection()
        while True:
            callers = [self._waiting.get()]
            while len(callers) < COALESCED_CALLERS_MAX:
                try:
                    callers.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            commands = [command for own, _, _ in callers for command in own]
            try:
                try:
                    answers = self._round_trip(connection, commands)
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    # Redis restarted or dropped the connection: once more, connected
                    # afresh (commands it may have run already only count a request
                    # twice, or refuse a replayed signature that the caller then re-signs).
                    connection.disconnect()
                    answers = self._round_trip(connection, commands)
            except Exception as error:   # the round trip failed: each caller hears of it
                connection.disconnect()
                for _, _, own_answers in callers:
                    own_answers.append(error)
            else:
                start = 0
                for own, _, own_answers in callers:
                    own_answers.append(answers[start:start + len(own)])
                    start += len(own)
            for _, answered, _ in callers:
                answered.set()

    @staticmethod
    def _round_trip(connection: redis.connection.AbstractConnection,
                    commands: list[tuple]) -> list[Any]:
        connection.send_packed_command(connection.pack_commands(commands))
        answers: list[Any] = []
        for _ in commands:
            try:
                answers.append(connection.read_response())
            except redis.exceptions.ResponseError as error:
                answers.append(error)
        return answers


class RateLimiter:
    def __init__(self, redis_url: str) -> None:
        uri = "redis+" + redis_url if redis_url.startswith("unix://") else redis_url
        # A blocking pool: a burst of requests (a thousand sockets connecting at once)
        # waits for a connection instead of failing with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(
            redis_url, max_connections=REDIS_CONNECTIONS_MAX, timeout=REDIS_WAIT_SECONDS)
        self._storage = RedisStorage(uri, connection_pool=pool)
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._coalesced = Coalesced(pool)
        self._items: dict[str, RateLimitItem] = {}

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
        return self._coalesced.send(commands)

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
