"""Waiting, a bounded time, for the matcher to have processed an order.

The ``web`` process's event listener (``api.ws.Hub``) hears every user's order changes
from Redis and wakes whoever waits for one of those orders. A waiter reads the order from
the database after it registers, and again after each wake or pause: an event that came
before it registered, or one lost with a Redis restart, costs at most a pause.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import gevent.event

PAUSE_SECONDS = 0.25


class OrderWaits:
    def __init__(self) -> None:
        self._waiting: dict[int, set[gevent.event.Event]] = {}

    def received(self, orders: list[dict[str, Any]]) -> None:
        for order in orders:
            for event in self._waiting.get(int(order["id"]), ()):
                event.set()

    @contextmanager
    def _registered(self, order_ids: list[int]) -> Iterator[gevent.event.Event]:
        event = gevent.event.Event()
        for order_id in order_ids:
            self._waiting.setdefault(order_id, set()).add(event)
        try:
            yield event
        finally:
            for order_id in order_ids:
                waiting = self._waiting[order_id]
                waiting.discard(event)
                if not waiting:
                    del self._waiting[order_id]

    def until(self, order_ids: list[int], read: Callable[[], Any], done: Callable[[Any], bool],
              seconds: float) -> Any:
        """``read()`` once ``done`` says so of what it read, or when ``seconds`` have passed;
        read again whenever one of the orders changes."""
        deadline = time.monotonic() + seconds
        with self._registered(order_ids) as event:
            while True:
                found = read()
                left = deadline - time.monotonic()
                if done(found) or left <= 0:
                    return found
                event.wait(min(left, PAUSE_SECONDS))
                event.clear()
