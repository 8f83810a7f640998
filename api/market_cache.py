"""Public market data answers, kept per ``web`` process until their market changes.

Bots and the website poll the book, tickers, trades and candles; each answer was one to
five queries (the Binance ticker eleven). Here each distinct question (its route and
its declared parameters, never the undeclared ones a client may vary) is answered once
and its JSON text kept until the feed announces a batch of its market (``forget``: each
``web`` process follows the feed, ``api.ws.Hub``), and never longer than
``MARKET_DATA_STALENESS_SECONDS``, counted from before its queries began: an answer
therefore shows every batch this process heard of before it was asked, and everything
committed at least that long before (the bound while the feed is away, or for an
answer of a replica behind). An answer computed while its market changed is given to
its askers but not kept. Concurrent askers of the same question while it is being
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


class EncodedJson(bytes):
    """An answer already encoded as JSON (UTF-8): the faces' wrappers send it as it is."""


EVERY_MARKET = None                 # the market of an answer about every market


class _Pending:
    def __init__(self, started: float, market: str | None) -> None:
        self.started, self.market = started, market
        self.done = threading.Event()
        self.answer: EncodedJson | Exception | None = None


class MarketDataCache:
    def __init__(self, seconds: float = MARKET_DATA_STALENESS_SECONDS,
                 size_max: int = MARKET_DATA_ANSWERS_MAX,
                 refusals: tuple[type[Exception], ...] = ()) -> None:
        self.seconds, self.size_max, self.refusals = seconds, size_max, refusals
        self._answers: dict[Hashable, tuple[float, EncodedJson | Exception]] = {}
        self._pending: dict[Hashable, _Pending] = {}
        self._by_market: dict[str | None, set[Hashable]] = {}
        self._changed: dict[str | None, float] = {}   # when each market last changed
        self.computed = 0          # answers made (for tests and benchmarks)

    def answer(self, key: Hashable, compute: Callable[[], EncodedJson],
               market: str | None = EVERY_MARKET) -> EncodedJson:
        """The kept answer to ``key``, about ``market``, or ``compute()``'s."""
        asked = time.monotonic()
        kept = self._answers.get(key)
        if kept is not None and asked < kept[0]:
            return _given(kept[1])
        pending = self._pending.get(key)
        if pending is not None and asked - pending.started < self.seconds and \
                not self._changed_since(pending):
            pending.done.wait()
            if pending.answer is not None:
                return _given(pending.answer)
        return self._compute(key, compute, market)

    def forget(self, market: str) -> None:
        """``market`` changed: drop its answers, and those about every market."""
        now = time.monotonic()
        for about in (market, EVERY_MARKET):
            self._changed[about] = now
            for key in self._by_market.pop(about, ()):
                self._answers.pop(key, None)

    def _changed_since(self, pending: _Pending) -> bool:
        # ``forget`` marks EVERY_MARKET changed with each market: one lookup serves both.
        return self._changed.get(pending.market, 0.0) >= pending.started

    def _compute(self, key: Hashable, compute: Callable[[], EncodedJson],
                 market: str | None) -> EncodedJson:
        pending = _Pending(time.monotonic(), market)
        self._pending[key] = pending
        try:
            pending.answer = compute()
        except self.refusals as refused:
            pending.answer = refused
        finally:
            if self._pending.get(key) is pending:
                del self._pending[key]
            if pending.answer is not None and not self._changed_since(pending):
                if len(self._answers) >= self.size_max:
                    self.clear()
                self._answers[key] = (pending.started + self.seconds, pending.answer)
                self._by_market.setdefault(market, set()).add(key)
                self.computed += 1
            pending.done.set()
        return _given(pending.answer)

    def clear(self) -> None:
        self._answers.clear()
        self._by_market.clear()


def _given(answer: EncodedJson | Exception) -> EncodedJson:
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
           encode: Callable[[Any], bytes], market: Callable[[Any], str | None]
           ) -> Callable[[Callable], Callable]:
    """A route handler ``(services, request)`` whose answers ``cache`` keeps, by
    ``key(request)``, about ``market(request)`` (``EVERY_MARKET`` when about all),
    encoded by ``encode``."""
    def decorate(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], EncodedJson]:
        @functools.wraps(handler)
        def answered(services: Any, request: Any) -> EncodedJson:
            return cache.answer((handler.__name__, key(request)), lambda: EncodedJson(
                encode(handler(services, request))), market(request))
        return answered
    return decorate
