"""One market's matcher around the pure core: leadership, work from the database, batches.

* Leadership: a PostgreSQL advisory lock per market, held by a session of its own.
  A second matcher for the market finds the lock taken and does nothing; when the
  leader dies its session ends, the lock is freed, and the next wake-up or sweep
  makes the standby lead.
* Work comes from ``matcher_requests`` in sequence order (the queue message only
  wakes us). Each batch is one transaction: trades, fills, settlement transfers,
  order states, the requests marked processed. A batch claims its requests by marking
  them, and only requests still pending can be claimed, so even two leaders at once
  could not apply work twice.
* The in-memory book is rebuilt from the database at start and after any error,
  so it never runs ahead of what was committed. Time priority is the order in which
  this book queued the orders, not their sequence numbers (taken before their
  transactions commit, so a later number can arrive first): each order that enters
  the book records its step of the market's ``book_sequence``, and the rebuild queues
  them by it. That sequence only grows, and a batch whose book was built on another
  value than the committed one (a second runner wrote the market) is void.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable

import psycopg2
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from db import round_trips
from db.schema import market_state, matcher_requests, orders
from ledger.scales import scale
from ledger.transfers import post_new
from matcher import candles, feed
from matcher.book import Book, MarketRules, Order, Rested
from matcher.errors import StaleBook
from matcher.markets import Market
from matcher.settlement import OrderState, Settlement, settle
from matcher.statuses import CANCELLED, CLOSED, EXPIRED, NEW, RESTING
from observability import metrics
from workers.matching.statements import (
    AFTER_TRANSFERS, BEFORE_TRANSFERS, BEGIN_AND_READ_MARKET, CLAIM_REQUESTS, FILL_COLUMNS,
)
from workers.matching.rows import AccountCache, columns, core_order, fill_rows, order_state

BATCH_REQUESTS_MAX = 500
NOT_NULL_VIOLATION = "23502"
log = logging.getLogger("matcher")
Publish = Callable[[str, dict[str, Any]], None]   # (market, what the batch changed)


def lock_key(market: str) -> int:
    return int.from_bytes(hashlib.sha256(f"matcher:{market}".encode()).digest()[:8], "big",
                          signed=True)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class MarketRunner:
    def __init__(self, engine: Engine, database_url: str, market: str,
                 clock: Callable[[], datetime] = utc_now, publish: Publish | None = None,
                 batch_requests: int = BATCH_REQUESTS_MAX) -> None:
        self.engine, self.database_url, self.symbol = engine, database_url, market
        self.clock, self.publish, self.batch_requests = clock, publish, batch_requests
        self._leadership: psycopg2.extensions.connection | None = None
        self.book: Book | None = None
        self.states: dict[int, OrderState] = {}
        self._pending: dict[int, Order] = {}   # new orders of the current batch
        self._published: dict[str, list] = {}  # the book's top levels as last published
        self._published_sequence = 0
        # The market's book_sequence as committed: one step per request applied and one
        # per order entering the book, which takes its step as its time priority.
        self._book_sequence = 0

    # Leadership ----------------------------------------------------------------

    def lead(self) -> bool:
        """True while this runner holds the market's lock (taking it if free)."""
        try:
            if self._leadership is not None and not self._leadership.closed:
                with self._leadership.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return True
        except psycopg2.Error:
            self.resign()
        connection = psycopg2.connect(self.database_url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(self.symbol),))
            if cursor.fetchone()[0]:
                self._leadership = connection
                self.book = None  # whatever we knew may be stale: rebuild
                return True
        connection.close()
        return False

    def resign(self) -> None:
        if self._leadership is not None and not self._leadership.closed:
            self._leadership.close()
        self._leadership = None
        self.book = None

    # Work ----------------------------------------------------------------------

    def run_pending(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """Process every pending request of the market, a batch at a time, until none is
        left or ``stopping()``; returns how many."""
        if not self.lead():
            return 0
        done = 0
        while not stopping():
            try:
                processed = self._one_batch()
            except Exception:
                self.book = None  # rebuilt from what was committed
                raise
            done += processed
            if processed < self.batch_requests:
                return done
        return done

    def _one_batch(self) -> int:
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                found = self._batch(conn)
            except BaseException:
                round_trips.rollback(conn)
                raise
        if found is None:
            return 0
        requests, settlement, now = found
        _observe(self.symbol, requests)
        if self.publish is not None:
            self.publish(self.symbol, self._changes(settlement, self._book_sequence, now))
        self._forget_closed(settlement)
        return len(requests)

    def _batch(self, conn: Connection) -> tuple[list, Settlement, datetime] | None:
        """One batch, begun and committed on ``conn``; None (and nothing changed) when
        there is no work."""
        row = round_trips.last_row(conn, BEGIN_AND_READ_MARKET, {"market": self.symbol})
        market = None if row is None else Market(
            row.symbol, row.base, row.quote, row.tick_size, row.lot_size, row.min_notional,
            row.maker_fee_bps, row.taker_fee_bps, row.status)
        if market is not None and self.book is None:
            # Before claiming: the book holds what the requests processed before this
            # batch made, and this batch's requests enter it only by being applied.
            self._rebuild(conn, market)
        now = self.clock()
        requests = [] if market is None else round_trips.execute(conn, CLAIM_REQUESTS, {
            "market": self.symbol, "limit": self.batch_requests, "now": now}).all()
        if market is None or not requests:
            conn.exec_driver_sql("ROLLBACK")
            return None
        assert self.book is not None
        self._take_new_orders(requests)
        accounts = AccountCache(conn)
        settlement = Settlement()
        step = self._book_sequence
        for request in requests:
            events = self._apply(request, now)
            step = self._number_entries(events, step + 1)
            settle(events, self.states, market, row.quote_scale,
                   f"{self.symbol}:{request.sequence}", now, settlement)
        self._write_and_commit(conn, market, settlement, accounts, now, step)
        self._book_sequence = step
        return requests, settlement, now

    def _number_entries(self, events: list, step: int) -> int:  # type: ignore[type-arg]
        """Each order that entered the book takes the next step as its time priority: the
        order the book queues it in, written with its state, so a rebuilt book queues the
        same (a stop that triggers enters when it does, whatever its sequence number)."""
        for event in events:
            if type(event) is Rested:
                step += 1
                self.states[event.order_id].priority = step
        return step

    def _changes(self, settlement: Settlement, sequence: int, now: datetime) -> dict[str, Any]:
        """What subscribers need of a committed batch: book changes, trades, order states."""
        assert self.book is not None
        top = self._top_levels()
        book = {"sequence": sequence, "prev_sequence": self._published_sequence,
                "changes": feed.changes(self._published, top),
                "checksum": feed.checksum(*self._checksum_levels(top))}
        self._published, self._published_sequence = top, sequence
        orders = [{"user_id": state.user_id, "id": str(state.id), "status": state.status,
                   "filled_quantity": feed.plain(state.filled_quantity),
                   "held": feed.plain(state.hold_remaining)}
                  for state in (self.states[i] for i in sorted(settlement.changed))]
        return {"book": book, "orders": orders, "time": now.isoformat(), "trades": [
            {"price": feed.plain(t["price"]), "quantity": feed.plain(t["quantity"]),
             "taker_side": t["taker_side"], "maker_user_id": t["maker_user_id"],
             "taker_user_id": t["taker_user_id"], "maker_order_id": str(t["maker_order_id"]),
             "taker_order_id": str(t["taker_order_id"])} for t in settlement.trades]}

    def _top_levels(self) -> dict[str, list]:
        assert self.book is not None
        return {side: feed.depth(self.book.depth(side)) for side in ("buy", "sell")}

    @staticmethod
    def _checksum_levels(top: dict[str, list]) -> tuple[list, list]:
        return ([(feed.plain(p), feed.plain(q)) for p, q in top["buy"]],
                [(feed.plain(p), feed.plain(q)) for p, q in top["sell"]])

    def _apply(self, request: Any, now: datetime) -> list:
        assert self.book is not None
        if request.kind == "order":
            order = self._pending.pop(request.order_id, None)
            return [] if order is None else self.book.submit(order, now)
        return self.book.cancel(request.order_id,
                                EXPIRED if request.kind == "expire" else CANCELLED)

    # Loading -------------------------------------------------------------------

    def _rebuild(self, conn: Connection, market: Market) -> None:
        rules = MarketRules(taker_fee_bps=market.taker_fee_bps,
                            quote_scale=scale(conn, market.quote),
                            lot_size=market.lot_size)
        self.book = Book(rules)
        self.book.last_price = conn.execute(select(market_state.c.last_price).where(
            market_state.c.market == self.symbol)).scalar()
        self.states = {}
        # Only orders whose own request was processed: a stop still waiting for its
        # request would otherwise enter the book twice.
        processed = select(matcher_requests.c.sequence).where(
            matcher_requests.c.sequence == orders.c.sequence,
            matcher_requests.c.processed_at.is_not(None)).exists()
        # In the order the book queued them (waiting stops, not in it yet, come last).
        rows = conn.execute(select(orders).where(
            orders.c.market == self.symbol, orders.c.status.in_(RESTING), processed)
            .order_by(orders.c.priority.asc().nulls_last(), orders.c.sequence)).all()
        for row in rows:
            self.states[row.id] = order_state(row)
            self.book.restore(core_order(row))
        self._published = self._top_levels()
        self._book_sequence = conn.execute(select(market_state.c.book_sequence).where(
            market_state.c.market == self.symbol)).scalar() or 0
        self._published_sequence = self._book_sequence
        log.info("%s: book rebuilt with %d orders", self.symbol, len(rows))

    def _take_new_orders(self, requests: list) -> None:  # type: ignore[type-arg]
        """The orders that the claimed requests bring (each row is its request's too)."""
        self._pending = {}
        for row in requests:
            if row.id is not None and row.status in NEW:
                self.states[row.id] = order_state(row)
                self._pending[row.id] = core_order(row)

    # Writing -------------------------------------------------------------------

    def _write_and_commit(self, conn: Connection, market: Market, settlement: Settlement,
                          accounts: AccountCache, now: datetime, book_sequence: int) -> None:
        """The batch's writes and the commit, in one round trip. The ledger's, which lock
        the traders' accounts, come last but one."""
        parts: dict[str, dict[str, Any]] = {}
        if settlement.changed:
            parts["orders"] = columns([self.states[i] for i in sorted(settlement.changed)])
        if settlement.trades:
            rows = candles.from_trades(self.symbol, settlement.trades, now)
            parts["candles"] = {f"candle_{name}": rows[0][name] for name in (
                "market", "open", "high", "low", "close", *candles.VOLUMES, "trades")}
            parts["candles"] |= {"candle_interval": [r["interval"] for r in rows],
                                 "candle_start": [r["start"] for r in rows]}
        fills = [row for t in settlement.trades for row in fill_rows(t, market)]
        parts["trades"] = {
            "market": self.symbol, "fee_currency": market.quote, "now": now,
            "last_price": settlement.last_price,
            "book_sequence": book_sequence, "book_sequence_before": self._book_sequence,
            **{name: [t[name] for t in settlement.trades] for name in
               ("price", "quantity", "taker_side", "maker_order_id", "taker_order_id",
                "transfer_key")},
            **{f"fill_{name}": [f[name] for f in fills] for name in FILL_COLUMNS}}
        try:
            post_new(conn, accounts.transfers(settlement.transfers),
                     round_trips.merged(*parts.values()),
                     before=tuple(BEFORE_TRANSFERS[part] for part in parts if part != "trades"),
                     after=AFTER_TRANSFERS)
        except DBAPIError as error:   # what post_new left untranslated: not the ledger's
            if getattr(error.orig, "pgcode", None) == NOT_NULL_VIOLATION and getattr(
                    getattr(error.orig, "diag", None), "column_name", None) == "book_sequence":
                raise StaleBook(f"{self.symbol}: another runner wrote the market since this "
                                "book was built; it is rebuilt") from error
            raise

    def _forget_closed(self, settlement: Settlement) -> None:
        for order_id in settlement.changed:
            state = self.states.get(order_id)
            if state is not None and state.status in CLOSED:
                del self.states[order_id]


def _observe(market: str, requests: list) -> None:  # type: ignore[type-arg]
    """Match latency: from each request's acceptance to its settlement, just committed."""
    settled = datetime.now(timezone.utc)
    metrics.MATCHER_BATCH_REQUESTS.labels(market).observe(len(requests))
    kinds = Counter(request.kind for request in requests)
    for kind, number in kinds.items():
        metrics.MATCHER_REQUESTS.labels(market, kind).inc(number)
    match_seconds = metrics.MATCH_SECONDS.labels(market)
    for request in requests:
        if request.kind == "order":
            match_seconds.observe(max((settled - request.created_at).total_seconds(), 0))
