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
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError

from db import round_trips
from db.schema import market_state, matcher_requests, orders
from ledger import AccountKind, account
from ledger.scales import scale
from ledger.transfers import post_new
from matcher import candles, feed
from matcher.book import Book, MarketRules, Order, Rested
from matcher.errors import StaleBook
from matcher.markets import Market
from matcher.settlement import OrderState, Settlement, settle
from matcher.statuses import CANCELLED, CLOSED, EXPIRED, NEW, RESTING
from observability import metrics

BATCH_REQUESTS_MAX = 500
NOT_NULL_VIOLATION = "23502"
log = logging.getLogger("matcher")
Publish = Callable[[str, dict[str, Any]], None]   # (market, what the batch changed)


# The trades (each with its ledger transfer, found by its key), their fills (two per
# trade, found by that transfer) and the market's state, in one statement. The book's
# sequence moves with every batch, from the value this runner's book was built on or
# last wrote: if another runner wrote the market meanwhile, NULL breaks the column's
# NOT NULL and the batch is void (see ``StaleBook``). The last price and trade move only
# with trades.
_FILL_COLUMNS = ("transfer_key", "user_id", "order_id", "side", "price", "quantity", "fee",
                 "liquidity")
_INSERT_TRADES_AND_STATE = round_trips.Prepared("matcher_insert_trades", text("""
    WITH new_trades AS (
        INSERT INTO trades (market, price, quantity, taker_side, maker_order_id,
                            taker_order_id, transfer_id, created_at)
        SELECT :market, t.price, t.quantity, t.taker_side, t.maker_order_id,
               t.taker_order_id, tr.id, :now
          FROM unnest(CAST(:price AS numeric[]), CAST(:quantity AS numeric[]),
                      CAST(:taker_side AS text[]), CAST(:maker_order_id AS bigint[]),
                      CAST(:taker_order_id AS bigint[]), CAST(:transfer_key AS text[]))
               WITH ORDINALITY AS t(price, quantity, taker_side, maker_order_id,
                                    taker_order_id, transfer_key, n)
          JOIN transfers tr ON tr.idempotency_key = t.transfer_key
         ORDER BY t.n
        RETURNING id, transfer_id),
    new_fills AS (
        INSERT INTO fills (trade_id, user_id, order_id, market, side, price, quantity, fee,
                           fee_currency, liquidity, created_at)
        SELECT t.id, f.user_id, f.order_id, :market, f.side, f.price, f.quantity, f.fee,
               :fee_currency, f.liquidity, :now
          FROM unnest(CAST(:fill_transfer_key AS text[]), CAST(:fill_user_id AS bigint[]),
                      CAST(:fill_order_id AS bigint[]), CAST(:fill_side AS text[]),
                      CAST(:fill_price AS numeric[]), CAST(:fill_quantity AS numeric[]),
                      CAST(:fill_fee AS numeric[]), CAST(:fill_liquidity AS text[]))
               WITH ORDINALITY AS f(transfer_key, user_id, order_id, side, price, quantity,
                                    fee, liquidity, n)
          JOIN transfers tr ON tr.idempotency_key = f.transfer_key
          JOIN new_trades t ON t.transfer_id = tr.id
         ORDER BY f.n)
    INSERT INTO market_state (market, last_price, last_trade_id, book_sequence)
    VALUES (:market, CAST(:last_price AS numeric), (SELECT max(id) FROM new_trades),
            :book_sequence)
    ON CONFLICT (market) DO UPDATE
    SET last_price = coalesce(EXCLUDED.last_price, market_state.last_price),
        last_trade_id = coalesce(EXCLUDED.last_trade_id, market_state.last_trade_id),
        book_sequence = CASE WHEN market_state.book_sequence = :book_sequence_before
                             THEN EXCLUDED.book_sequence END"""),
    market="text", now="timestamptz", fee_currency="text", book_sequence="bigint",
    book_sequence_before="bigint")
_UPDATE_ORDERS = round_trips.Prepared("matcher_update_orders", text("""
    UPDATE orders o SET status = u.status, reject_reason = u.reason,
           filled_quantity = u.filled_quantity, filled_notional = u.filled_notional,
           fee_paid = u.fee_paid, fee_accrued = u.fee_accrued,
           hold_remaining = u.hold_remaining,
           triggered_at = u.triggered_at, priority = coalesce(u.priority, o.priority),
           updated_at = now()
      FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]),
                  CAST(:reasons AS text[]), CAST(:filled AS numeric[]),
                  CAST(:notional AS numeric[]), CAST(:fees AS numeric[]),
                  CAST(:accrued AS numeric[]), CAST(:holds AS numeric[]),
                  CAST(:triggered AS timestamptz[]), CAST(:priorities AS bigint[]))
           AS u(id, status, reason, filled_quantity, filled_notional, fee_paid,
                fee_accrued, hold_remaining, triggered_at, priority)
     WHERE o.id = u.id"""))
# A batch's trades in every interval's candle: one row per interval.
_UPSERT_CANDLES = round_trips.Prepared("matcher_upsert_candles", text("""
    INSERT INTO candles (market, interval, start, open, high, low, close, volume,
                         quote_volume, trades)
    SELECT :candle_market, i.interval, i.start, :candle_open, :candle_high, :candle_low,
           :candle_close, :candle_volume, :candle_quote_volume, :candle_trades
      FROM unnest(CAST(:candle_interval AS text[]), CAST(:candle_start AS timestamptz[]))
           AS i(interval, start)
    ON CONFLICT (market, interval, start) DO UPDATE
    SET high = greatest(candles.high, EXCLUDED.high), low = least(candles.low, EXCLUDED.low),
        close = EXCLUDED.close, volume = candles.volume + EXCLUDED.volume,
        quote_volume = candles.quote_volume + EXCLUDED.quote_volume,
        trades = candles.trades + EXCLUDED.trades"""),
    candle_market="text", candle_open="numeric", candle_high="numeric", candle_low="numeric",
    candle_close="numeric", candle_volume="numeric", candle_quote_volume="numeric",
    candle_trades="integer")
# A batch's transaction is the runner's own (its connection in autocommit mode): it
# begins with reading the market, claims its requests (marking them processed: only
# requests still pending are claimed, so even two leaders at once could not apply work
# twice) and reads their new orders in the same statement, and sends every write with
# the commit in one round trip, so that the traders' accounts stay locked only while the
# server works. An order and its request share their sequence number.
_BEGIN_AND_READ_MARKET = round_trips.joined("BEGIN", round_trips.Prepared(
    "matcher_read_market", text("""
    SELECT m.*, q.scale AS quote_scale FROM markets m JOIN currencies q ON q.code = m.quote
     WHERE m.symbol = :market"""), market="text"))
_CLAIM_REQUESTS = round_trips.joined(round_trips.Prepared("matcher_claim_requests", text("""
    WITH claimed AS (
        UPDATE matcher_requests SET processed_at = now()
         WHERE sequence IN (SELECT sequence FROM matcher_requests
                             WHERE market = :market AND processed_at IS NULL
                             ORDER BY sequence LIMIT :limit FOR UPDATE)
        RETURNING sequence, kind, order_id, created_at)
    SELECT c.sequence, c.kind, c.order_id, c.created_at, o.id, o.user_id, o.side, o.type,
           o.time_in_force, o.price, o.stop_price, o.quantity, o.post_only, o.expire_at,
           o.status, o.reject_reason, o.hold_currency, o.hold_remaining, o.filled_quantity,
           o.filled_notional, o.fee_paid, o.fee_accrued, o.triggered_at
      FROM claimed c LEFT JOIN orders o ON c.kind = 'order' AND o.id = c.order_id
     ORDER BY c.sequence"""), market="text", limit="integer"))
# Before the ledger's: the orders' states and the candles; after it (the trades join their
# transfers by key): the trades, their fills and the market's state, then the commit.
_BEFORE_TRANSFERS = {"orders": _UPDATE_ORDERS, "candles": _UPSERT_CANDLES}
_AFTER_TRANSFERS = (_INSERT_TRADES_AND_STATE, "COMMIT")


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
        row = round_trips.last_row(conn, _BEGIN_AND_READ_MARKET, {"market": self.symbol})
        market = None if row is None else Market(
            row.symbol, row.base, row.quote, row.tick_size, row.lot_size, row.min_notional,
            row.maker_fee_bps, row.taker_fee_bps, row.status)
        if market is not None and self.book is None:
            # Before claiming: the book holds what the requests processed before this
            # batch made, and this batch's requests enter it only by being applied.
            self._rebuild(conn, market)
        requests = [] if market is None else round_trips.execute(conn, _CLAIM_REQUESTS, {
            "market": self.symbol, "limit": self.batch_requests}).all()
        if market is None or not requests:
            conn.exec_driver_sql("ROLLBACK")
            return None
        assert self.book is not None
        self._take_new_orders(requests)
        now = self.clock()
        accounts = _AccountCache(conn)
        settlement = Settlement()
        step = self._book_sequence
        for request in requests:
            events = self._apply(request, now)
            step = self._number_entries(events, step + 1)
            settle(events, self.states, market, row.quote_scale, accounts.get,
                   f"{self.symbol}:{request.sequence}", now, settlement)
        self._write_and_commit(conn, market, settlement, now, step)
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
            self.states[row.id] = _state(row)
            self.book.restore(_core_order(row))
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
                self.states[row.id] = _state(row)
                self._pending[row.id] = _core_order(row)

    # Writing -------------------------------------------------------------------

    def _write_and_commit(self, conn: Connection, market: Market, settlement: Settlement,
                          now: datetime, book_sequence: int) -> None:
        """The batch's writes and the commit, in one round trip. The ledger's, which lock
        the traders' accounts, come last but one."""
        parts: dict[str, dict[str, Any]] = {}
        if settlement.changed:
            parts["orders"] = _columns([self.states[i] for i in sorted(settlement.changed)])
        if settlement.trades:
            rows = candles.from_trades(self.symbol, settlement.trades, now)
            parts["candles"] = {f"candle_{name}": rows[0][name] for name in (
                "market", "open", "high", "low", "close", "volume", "quote_volume", "trades")}
            parts["candles"] |= {"candle_interval": [r["interval"] for r in rows],
                                 "candle_start": [r["start"] for r in rows]}
        fills = [row for t in settlement.trades for row in _fill_rows(t, market)]
        parts["trades"] = {
            "market": self.symbol, "fee_currency": market.quote, "now": now,
            "last_price": settlement.last_price,
            "book_sequence": book_sequence, "book_sequence_before": self._book_sequence,
            **{name: [t[name] for t in settlement.trades] for name in
               ("price", "quantity", "taker_side", "maker_order_id", "taker_order_id",
                "transfer_key")},
            **{f"fill_{name}": [f[name] for f in fills] for name in _FILL_COLUMNS}}
        try:
            post_new(conn, settlement.transfers, round_trips.merged(*parts.values()),
                     before=tuple(_BEFORE_TRANSFERS[part] for part in parts if part != "trades"),
                     after=_AFTER_TRANSFERS)
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


class _AccountCache:
    """Account lookups for one batch (each at most once per batch)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.found: dict[tuple, Any] = {}

    def get(self, owner: int | None, currency: str, kind: AccountKind):  # type: ignore[no-untyped-def]
        key = (owner, currency, kind)
        if key not in self.found:
            self.found[key] = account(self.conn, owner, currency, kind)
        return self.found[key]


def _state(row: Any) -> OrderState:
    return OrderState(row.id, row.user_id, row.side, row.hold_currency, row.hold_remaining,
                      row.filled_quantity, row.filled_notional, row.fee_paid, row.fee_accrued,
                      row.status, row.reject_reason, row.triggered_at)


def _core_order(row: Any) -> Order:
    is_market_buy = row.type in ("market", "stop_market") and row.side == "buy"
    remaining = None if row.quantity is None else row.quantity - row.filled_quantity
    return Order(row.id, row.user_id, row.side, row.type, row.time_in_force, remaining,
                 row.price, row.stop_price, row.hold_remaining if is_market_buy else None,
                 row.post_only, row.expire_at, row.sequence,
                 triggered=row.triggered_at is not None)


def _fill_rows(trade: dict[str, Any], market: Market) -> list[dict[str, Any]]:
    maker_side = "sell" if trade["taker_side"] == "buy" else "buy"
    common = {"price": trade["price"], "quantity": trade["quantity"],
              "transfer_key": trade["transfer_key"]}
    return [
        common | {"user_id": trade["maker_user_id"], "order_id": trade["maker_order_id"],
                  "side": maker_side, "fee": trade["maker_fee"], "liquidity": "maker"},
        common | {"user_id": trade["taker_user_id"], "order_id": trade["taker_order_id"],
                  "side": trade["taker_side"], "fee": trade["taker_fee"], "liquidity": "taker"},
    ]


def _columns(states: list[OrderState]) -> dict[str, list]:
    return {"ids": [s.id for s in states], "statuses": [s.status for s in states],
            "reasons": [s.reject_reason for s in states],
            "filled": [s.filled_quantity for s in states],
            "notional": [s.filled_notional for s in states],
            "fees": [s.fee_paid for s in states], "accrued": [s.fee_accrued for s in states],
            "holds": [s.hold_remaining for s in states],
            "triggered": [s.triggered_at for s in states],
            "priorities": [s.priority for s in states]}


def pending_markets(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT DISTINCT market FROM matcher_requests "
                                  "WHERE processed_at IS NULL")).scalars())


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
