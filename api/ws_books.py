"""Book snapshots for WebSocket subscribers, from the book the process follows.

Every ``web`` process receives every book message (Redis ``market:*``). A market whose
snapshot was asked for is then followed: its top levels are kept, seeded by one query
and moved by each message in sequence (a subscriber's own arithmetic, ``matcher.feed``),
and checked against each message's checksum. Later subscribers are answered from that
copy, with no query. A message that does not follow the copy (one was lost, or a matcher
crashed between its commit and its publication) or whose checksum disagrees drops it,
and so does a message no socket of the process subscribes to: the next subscriber's
snapshot is queried again. Queries of one market are shared: while one runs, every other
subscriber to that market waits for its answer instead of running its own.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from decimal import Decimal
from typing import Any, Iterable

from gevent.event import AsyncResult
from sqlalchemy import Engine, select

from api import routes_market_data
from api.errors import ApiError
from db.schema import market_state
from matcher import feed
from observability import metrics

RESUME_BUFFER_MAX = 1000          # book messages kept per market for resuming
UNKNOWN_MARKET_SECONDS = 1.0      # a market name not found is refused this long unread
UNKNOWN_MARKETS_MAX = 10_000
log = logging.getLogger("api.ws")


Level = tuple[str, str]   # the feed's plain price and quantity strings


class FollowedBook:
    """One market's top levels at ``sequence``, as the feed's messages move them."""

    def __init__(self, sequence: int, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self.sequence = sequence
        # Per side: the levels by key, and the keys best first (a bid's key is its price
        # negated), kept sorted as levels come and go so that the top is a slice.
        self._levels: dict[str, dict[Decimal, Level]] = {"buy": {}, "sell": {}}
        self._keys: dict[str, list[Decimal]] = {"buy": [], "sell": []}
        for side, levels in (("buy", bids), ("sell", asks)):
            for price, quantity in levels:
                self._set(side, price, quantity)

    def apply(self, message: dict[str, Any]) -> bool:
        """Move by one book message; False when it does not follow this copy or the
        result disagrees with its checksum (the copy is then wrong: drop it)."""
        if message["prev_sequence"] != self.sequence:
            return False
        for side, price, quantity in message["changes"]:
            self._set(side, price, quantity)
        self.sequence = message["sequence"]
        return feed.checksum(self._top("buy", feed.CHECKSUM_DEPTH),
                             self._top("sell", feed.CHECKSUM_DEPTH)) == message["checksum"]

    def snapshot(self, market: str) -> dict[str, Any]:
        bids = [list(level) for level in self._top("buy", feed.FEED_DEPTH)]
        asks = [list(level) for level in self._top("sell", feed.FEED_DEPTH)]
        return {"type": "snapshot", "channel": f"book:{market}", "sequence": self.sequence,
                "bids": bids, "asks": asks, "checksum": feed.checksum(bids, asks)}

    def _set(self, side: str, price: str, quantity: str) -> None:
        """Set a level's quantity; "0" removes it."""
        levels, keys = self._levels[side], self._keys[side]
        key = -Decimal(price) if side == "buy" else Decimal(price)
        if quantity == "0":
            if levels.pop(key, None) is not None:
                del keys[bisect.bisect_left(keys, key)]
            return
        if key not in levels:
            bisect.insort(keys, key)
        levels[key] = (price, quantity)

    def _top(self, side: str, depth: int) -> list[Level]:
        levels = self._levels[side]
        return [levels[key] for key in self._keys[side][:depth]]


class Books:
    """The books a process follows, the recent messages of each, and their snapshots."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.recent: dict[str, deque] = {}
        self._followed: dict[str, FollowedBook] = {}
        self._queries: dict[str, AsyncResult] = {}

    def received(self, market: str, message: dict[str, Any], subscribers: int) -> None:
        """A book message from the matcher, once sent to its ``subscribers`` here."""
        self.recent.setdefault(market, deque(maxlen=RESUME_BUFFER_MAX)).append(message)
        followed = self._followed.get(market)
        if followed is None or message["sequence"] <= followed.sequence:
            return  # not followed, or already in a snapshot read after its commit
        if subscribers == 0:
            del self._followed[market]  # nobody here watches it: stop paying for it
        elif not followed.apply(message):
            del self._followed[market]
            log.warning("book of %s does not follow message %s; queried again at the next "
                        "subscriber", market, message["sequence"])

    def in_memory(self, market: str) -> dict[str, Any] | None:
        """The followed book's snapshot, or None when the market is not followed (then
        nothing is queried: a caller in the event loop must not wait on the database)."""
        followed = self._followed.get(market)
        return None if followed is None else followed.snapshot(market)

    def snapshot(self, market: str) -> dict[str, Any]:
        """The market's snapshot: from the followed book, or a (shared) query."""
        followed = self._followed.get(market)
        if followed is not None:
            metrics.WS_BOOK_SNAPSHOTS.labels("memory").inc()
            return followed.snapshot(market)
        running = self._queries.get(market)
        if running is not None:
            book = running.get()
            metrics.WS_BOOK_SNAPSHOTS.labels("memory").inc()
            # Messages may have moved the followed copy while this waited: take it.
            return self._followed.get(market, book).snapshot(market)
        return self._queried(market).snapshot(market)

    def _queried(self, market: str) -> FollowedBook:
        running = self._queries[market] = AsyncResult()
        try:
            metrics.WS_BOOK_SNAPSHOTS.labels("query").inc()
            book = self._query(market)
            if self._caught_up(book, self.recent.get(market, ())):
                self._followed[market] = book
            running.set(book)
            return book
        except Exception as error:
            running.set_exception(error)
            raise
        except BaseException:  # this greenlet was killed: its waiters must not hang
            running.set_exception(ApiError(503, "snapshot_unavailable",
                                           "the book could not be read; subscribe again"))
            raise
        finally:
            del self._queries[market]

    @staticmethod
    def _caught_up(book: FollowedBook, recent: Iterable[dict[str, Any]]) -> bool:
        """Apply the messages received while the query ran (its reading may precede them)."""
        for message in list(recent):
            if message["sequence"] > book.sequence and not book.apply(message):
                return False
        return True

    def _query(self, market: str) -> FollowedBook:
        snapshot = self.engine.execution_options(isolation_level="REPEATABLE READ")
        with snapshot.connect() as conn:
            sequence = conn.execute(select(market_state.c.book_sequence).where(
                market_state.c.market == market)).scalar() or 0
            sides = {side: [(feed.plain(p), feed.plain(q)) for p, q in conn.execute(
                routes_market_data.BOOK_LEVELS, {"m": market, "side": side, "direction": direction,
                          "depth": feed.FEED_DEPTH})]
                     for side, direction in (("buy", -1), ("sell", 1))}
        return FollowedBook(sequence, sides["buy"], sides["sell"])


class KnownMarkets:
    """Which market names exist: each read once (markets are never removed), and a name
    not found refused without reading again for UNKNOWN_MARKET_SECONDS."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known: set[str] = set()
        self._unknown: dict[str, float] = {}

    def check(self, market: str) -> None:
        if market in self._known:
            return
        refused_at = self._unknown.get(market)
        if refused_at is not None and time.monotonic() - refused_at < UNKNOWN_MARKET_SECONDS:
            raise _unknown(market)
        try:
            routes_market_data.check_market(self.engine, market)
        except ApiError:
            if len(self._unknown) >= UNKNOWN_MARKETS_MAX:
                self._unknown.clear()
            self._unknown[market] = time.monotonic()
            raise
        self._known.add(market)


def _unknown(market: str) -> ApiError:
    return ApiError(404, "unknown_market", f"no market {market!r}; see GET /v1/markets",
                    "market")
