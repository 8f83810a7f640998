"""Public market data answers, kept per ``web`` process for a bounded time.

Bots and the website poll the book, tickers, trades and candles; each answer was one to
five queries (the Binance ticker eleven). Here each distinct question (its route and
its declared parameters, never the undeclared ones a client may vary) is answered once
and the JSON text kept for ``MARKET_DATA_STALENESS_SECONDS``, counted from before its
queries began: an answer therefore shows everything committed at least that long
before it was asked for. Concurrent askers of the same question while it is being
answered wait for that one answer instead of querying too. A refusal (an unknown
market) is kept the same way. At most ``MARKET_DATA_ANSWERS_MAX`` answers are kept
(when full, emptied: a flood of distinct questions costs queries, never memory).

Nothing private is ever kept here: balances and orders are read afresh on every request.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Callable, Hashable

import bottle

MARKET_DATA_STALENESS_SECONDS = 0.5
MARKET_DATA_ANSWERS_MAX = 5_000


class JsonText(str):
    """An answer already encoded as JSON: the faces' wrappers send it as it is."""


class _Pending:
    def __init__(self, started: float) -> None:
        self.started = started
        self.done = threading.Event()
        self.answer: JsonText | Exception | None = None


class MarketDataCache:
    def __init__(self, seconds: float = MARKET_DATA_STALENESS_SECONDS,
                 size_max: int = MARKET_DATA_ANSWERS_MAX,
                 refusals: tuple[type[Exception], ...] = ()) -> None:
        self.seconds, self.size_max, self.refusals = seconds, size_max, refusals
        self._answers: dict[Hashable, tuple[float, JsonText | Exception]] = {}
        self._pending: dict[Hashable, _Pending] = {}
        self.computed = 0          # answers made (for tests and benchmarks)

    def answer(self, key: Hashable, compute: Callable[[], JsonText]) -> JsonText:
        asked = time.monotonic()
        kept = self._answers.get(key)
        if kept is not None and asked < kept[0]:
            return _given(kept[1])
        pending = self._pending.get(key)
        if pending is not None and asked - pending.started < self.seconds:
            pending.done.wait()
            if pending.answer is not None:
                return _given(pending.answer)
        return self._compute(key, compute)

    def _compute(self, key: Hashable, compute: Callable[[], JsonText]) -> JsonText:
        pending = _Pending(time.monotonic())
        self._pending[key] = pending
        try:
            pending.answer = compute()
        except self.refusals as refused:
            pending.answer = refused
        finally:
            if self._pending.get(key) is pending:
                del self._pending[key]
            if pending.answer is not None:
                if len(self._answers) >= self.size_max:
                    self._answers.clear()
                self._answers[key] = (pending.started + self.seconds, pending.answer)
                self.computed += 1
            pending.done.set()
        return _given(pending.answer)

    def clear(self) -> None:
        self._answers.clear()


def _given(answer: JsonText | Exception) -> JsonText:
    if isinstance(answer, Exception):
        raise _fresh(answer)
    bottle.response.content_type = "application/json"
    return answer


def _fresh(refusal: Exception) -> Exception:
    """A copy of a kept refusal to raise: raising the kept one again would grow its
    traceback with every request."""
    fresh = type(refusal).__new__(type(refusal), *refusal.args)
    fresh.args = refusal.args
    fresh.__dict__.update(refusal.__dict__)
    return fresh


def cached(cache: MarketDataCache, key: Callable[[Any], Hashable],
           encode: Callable[[Any], str]) -> Callable[[Callable], Callable]:
    """A route handler ``(services, request)`` whose answers ``cache`` keeps, by
    ``key(request)``, encoded by ``encode``."""
    def decorate(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], JsonText]:
        @functools.wraps(handler)
        def answered(services: Any, request: Any) -> JsonText:
            return cache.answer((handler.__name__, key(request)), lambda: JsonText(
                encode(handler(services, request))))
        return answered
    return decorate
