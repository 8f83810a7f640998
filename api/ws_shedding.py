"""Past its capacity, a ``web`` process ends some of its sockets so that the rest stay
on time, instead of every socket falling behind together.

A socket's own backlog is bounded (``api.ws_outbox``), but not the process's: when
fanning out one announcement of the feed takes longer than the announcements take to
come, they wait in its subscription to Redis, and every socket is late by that wait.
The hub tells ``began`` and ``ended`` each announcement it fans out, and whether more
wait after it; announcements have waited without a break since it last found none
waiting, or since a gap between two of them longer than ``lag_seconds`` (the whole
process paused, or Redis stalled: not fan-out work, and over once it catches up). Once
they have waited more than ``lag_seconds`` (half of ``WS_CLIENT_LAG_MAX_MS``), it ends
``SHED_SHARE`` of its
sockets with ``slow_consumer``, those with the most frames waiting first (the slowest
readers), then the last to have connected, at most once per ``SHED_INTERVAL_SECONDS``,
for as long as it stays behind. An ended socket is told to reconnect: behind a load
balancer, to a process with room.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterable

from api.ws_sockets import Client
from observability import metrics

SHED_SHARE = 0.1
SHED_INTERVAL_SECONDS = 1.0
SHED_MESSAGE = "the server is past its capacity: reconnect and resume"


class Shedder:
    """``sockets()``: every socket this process serves, whatever its protocol."""

    def __init__(self, lag_seconds: float, sockets: Callable[[], Iterable[Client]]) -> None:
        self.lag_seconds, self._sockets = lag_seconds, sockets
        self._last_shed = float("-inf")
        self._caught_up = self._last_ended = time.monotonic()
        self.shed = 0                    # sockets ended so far (for tests and benchmarks)

    def began(self) -> None:
        """An announcement is being fanned out."""
        now = time.monotonic()
        if now - self._last_ended > self.lag_seconds:
            self._caught_up = now

    def ended(self, more_waiting: bool) -> int:
        """It was, and ``more_waiting`` tells whether others wait: how many sockets this
        ended."""
        now = self._last_ended = time.monotonic()
        if not more_waiting:
            self._caught_up = now
            return 0
        return self.behind(now - self._caught_up)

    def behind(self, seconds: float) -> int:
        """Announcements have waited for this process for ``seconds`` without a break:
        how many sockets this ended."""
        now = time.monotonic()
        if seconds <= self.lag_seconds or now - self._last_shed < SHED_INTERVAL_SECONDS:
            return 0
        self._last_shed = now
        serving = [client for client in self._sockets() if client.ended is None]
        slowest = sorted(serving, key=lambda c: (c.outbox.waiting(), c.connected_at),
                         reverse=True)[:math.ceil(len(serving) * SHED_SHARE)]
        for client in slowest:
            client.end("slow_consumer", SHED_MESSAGE)
        metrics.WS_SOCKETS_SHED.inc(len(slowest))
        self.shed += len(slowest)
        return len(slowest)
