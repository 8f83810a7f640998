"""Order entry: validate everything that needs no book, then insert and hold in one go.

In one transaction: the order row, its request to the matcher (one global sequence
number for both) and the ledger transfer that holds what the order may need.
Insufficient funds is decided there on balances read under the user's lock,
race-free, and the ledger checks it again. Orders can be placed in batches (one transaction, a few
statements whatever their number): each is still decided alone, in turn.

What is held:
* a sell holds its base quantity;
* a limit (or stop-limit) buy holds price x quantity plus the larger of the two fees;
* a market buy by ``quote_quantity`` holds that amount plus the taker fee;
* a market buy by ``quantity`` holds the buyer's whole available quote balance (the
  matcher spends what the fills cost and the rest is released at once);
* a stop-market buy holds quantity x stop price x (1 + 5 %) plus the fee: once
  triggered it buys at most what that covers (its price protection).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from db import outcomes, round_trips
from db.errors import CommitOutcomeUnknown
from db.schema import orders
from ledger import (
    AccountKind, InsufficientFunds, LedgerError, account, format_amount, move, parse_amount,
)
from ledger.scales import market_scales
from ledger.transfers import Transfer, post_new
from money import MONEY, round_up
from money import AmountError
from money import buyer_cost, fee
from matcher.errors import (
    InvalidOrder, MarketHalted, OrderError, OrderNotCancellable, OrderNotFound, ReservedIdTaken,
    UnknownMarket,
)
from matcher.markets import Market
from matcher.statuses import ACCEPTED, ACTIVE, UNTRIGGERED

ORDERS_OPEN_PER_USER_MAX = 200
EXPIRY_AHEAD_MAX = timedelta(days=366)
STOP_MARKET_PROTECTION_BPS = 500
_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

# A batch takes two round trips, whatever its size. The first locks the users' rows, in
# id order (serialising each user's entries across batches and processes; NO KEY UPDATE,
# because the matcher's inserts of fills take KEY SHARE on them and FOR UPDATE would
# deadlock with the account locks a batch holds). Then, in a new statement (so a new
# snapshot: it sees every order committed before the locks were granted), all that the
# decisions need, in one row: the markets named, each user's open orders, the earlier
# orders with the batch's client_order_ids or with the ids a failed attempt took for its
# orders (``Placement.reserved_id``: the attempt may have committed), the available
# balances (each found by its key: a join let the generic plan scan every available
# account), and for each order an id and a sequence number. A committed attempt held the
# users' locks until its commit: once they are granted, its orders are there to be seen.
_LOCK_USERS = round_trips.Prepared("entry_lock_users", text("""
    SELECT count(*) FROM (SELECT id FROM users WHERE id = ANY(:users) ORDER BY id
                          FOR NO KEY UPDATE) AS locked"""), users="bigint[]")
_AFTER_LOCKS = round_trips.Prepared("entry_after_locks", text(f"""
    SELECT (SELECT coalesce(json_agg(json_build_object(
                'symbol', m.symbol, 'base', m.base, 'quote', m.quote,
                'tick_size', m.tick_size::text, 'lot_size', m.lot_size::text,
                'min_notional', m.min_notional::text, 'maker_fee_bps', m.maker_fee_bps,
                'taker_fee_bps', m.taker_fee_bps, 'status', m.status, 'base_scale', b.scale,
                'quote_scale', q.scale, 'last_price', s.last_price::text)), '[]')
              FROM markets m
              JOIN currencies b ON b.code = m.base
              JOIN currencies q ON q.code = m.quote
              LEFT JOIN market_state s ON s.market = m.symbol
             WHERE m.symbol = ANY(:symbols)) AS markets,
           (SELECT coalesce(json_object_agg(user_id, n), '{{}}') FROM (
                SELECT user_id, count(*) AS n FROM orders
                 WHERE user_id = ANY(:users) AND status IN {ACTIVE}
                 GROUP BY user_id) AS o) AS open_orders,
           ARRAY(SELECT o.id FROM orders o
                   JOIN unnest(CAST(:client_users AS bigint[]), CAST(:client_ids AS text[]))
                        AS c(user_id, client_id)
                     ON o.user_id = c.user_id AND o.client_order_id = c.client_id
                  UNION
                  SELECT o.id FROM orders o
                   WHERE o.id = ANY(CAST(:reserved AS bigint[]))) AS earlier,
           (SELECT coalesce(json_agg(json_build_array(w.user_id, w.currency, (
                        SELECT a.balance::text FROM accounts a
                         WHERE a.owner_user_id = w.user_id AND a.currency = w.currency
                           AND a.kind = 'available'))), '[]')
              FROM unnest(CAST(:balance_users AS bigint[]),
                          CAST(:balance_currencies AS text[])) AS w(user_id, currency)
           ) AS balances,
           ARRAY(SELECT nextval(pg_get_serial_sequence('orders', 'id'))
                   FROM generate_series(1, :orders)) AS ids,
           ARRAY(SELECT nextval('matcher_sequence') FROM generate_series(1, :orders))
               AS sequences,
           now() AS now"""), symbols="text[]", users="bigint[]", orders="integer")
# The second: the orders, their requests to the matcher (one sequence number for both)
# and their holds (ledger.post_new puts them in the same round trip), then the commit.
_INSERT_ORDERS = round_trips.Prepared("entry_insert_orders", text("""
    WITH new_orders AS (
        INSERT INTO orders (id, user_id, market, client_order_id, side, type, time_in_force,
                            price, stop_price, quantity, quote_quantity, post_only, expire_at,
                            status, hold_currency, hold_amount, hold_remaining, sequence)
        OVERRIDING SYSTEM VALUE
        SELECT i, u, m, c, sd, t, tif, p, sp, q, qq, po, ea, st, hc, h, h, seq
          FROM unnest(CAST(:id AS bigint[]), CAST(:user_id AS bigint[]),
                      CAST(:market AS text[]),
                      CAST(:client_order_id AS text[]), CAST(:side AS text[]),
                      CAST(:type AS text[]), CAST(:time_in_force AS text[]),
                      CAST(:price AS numeric[]), CAST(:stop_price AS numeric[]),
                      CAST(:quantity AS numeric[]), CAST(:quote_quantity AS numeric[]),
                      CAST(:post_only AS boolean[]), CAST(:expire_at AS timestamptz[]),
                      CAST(:status AS text[]), CAST(:hold_currency AS text[]),
                      CAST(:hold AS numeric[]), CAST(:sequence AS bigint[]))
               AS n(i, u, m, c, sd, t, tif, p, sp, q, qq, po, ea, st, hc, h, seq)
        RETURNING id, market, sequence)
    INSERT INTO matcher_requests (sequence, market, kind, order_id)
    SELECT sequence, market, 'order', id FROM new_orders"""))
_READ_SQL = {own: round_trips.joined(*(["BEGIN"] if own else []), _LOCK_USERS, _AFTER_LOCKS)
             for own in (False, True)}
_CANCEL_ALL = text(f"""
    INSERT INTO matcher_requests (sequence, market, kind, order_id)
    SELECT nextval('matcher_sequence'), market, 'cancel', id
      FROM (SELECT market, id FROM orders
             WHERE user_id = :user_id AND market = :market AND status IN {ACTIVE}
             ORDER BY id) AS open_orders
    RETURNING order_id""")
_COLUMNS = ("id", "user_id", "market", "client_order_id", "side", "type", "time_in_force", "price",
            "stop_price", "quantity", "quote_quantity", "post_only", "expire_at", "status",
            "hold_currency", "hold", "sequence")


@dataclass
class Placement:
    """One order request of a batch, and what became of it: an order (``created`` False
    when an earlier order has its client_order_id) or an error that changed nothing.

    ``reserved_id`` is the id its order took in an attempt that sent its insert: it
    survives ``forget``, so that a retry finds the order if that attempt committed, and
    otherwise inserts it under the same id (never a second order, never a second hold).
    """

    user_id: int
    request: dict[str, Any]
    order: dict[str, Any] | None = None
    created: bool = False
    error: Exception | None = None
    values: dict[str, Any] = field(default_factory=dict)   # the row to insert
    same_as: Placement | None = None  # an earlier placement of the batch with its client id
    reserved_id: int | None = None

    def forget(self) -> None:
        """Back to undecided (its transaction rolled back, or perhaps committed: the
        reserved id stays)."""
        self.order, self.created, self.error, self.values, self.same_as = \
            None, False, None, {}, None


def place(conn: Connection, user_id: int, request: dict[str, Any], now: datetime
          ) -> tuple[dict[str, Any], bool]:
    """The order (new, or the earlier one with the same client_order_id) and whether it is
    new; a refusal is raised."""
    placement = Placement(user_id, request)
    place_many(conn, [placement], now)
    if placement.error is not None:
        raise placement.error
    assert placement.order is not None
    return placement.order, placement.created


def place_many(conn: Connection, placements: list[Placement], now: datetime | None = None,
               *, own_transaction: bool = False) -> None:
    """Place a batch, deciding each order in turn as if it came alone after the ones before
    it: validation, the open-order bound, the funds.

    In the caller's transaction; or, with ``own_transaction`` (``conn`` in autocommit
    mode), in one of its own that begins with the first round trip and commits with the
    second, so that the batch holds its users' accounts only while the server works.
    The funds are decided on the users' available balances read under their locks, so
    nothing else can spend them meanwhile; the ledger's non-negative balances check it
    again. An order refused sets its placement's error and changes nothing; an
    unexpected database error is raised (the batch's transaction is then void as a whole).
    ``now`` (validation's clock) defaults to the transaction's time.

    With ``own_transaction``, a failure of the round trip that ends in COMMIT that the
    server did not report as a rollback raises ``CommitOutcomeUnknown``: the batch may
    have committed. Placing the same placements again is safe: each one whose order an
    attempt committed finds it by its ``reserved_id`` (``created`` True), and the others
    are inserted under their reserved ids.
    """
    for placement in placements:
        placement.forget()
        client_id = placement.request.get("client_order_id")
        if client_id is not None and not _CLIENT_ORDER_ID.fullmatch(client_id):
            placement.error = InvalidOrder("client_order_id has 1 to 64 letters, digits or "
                                           "_ . : -", field="client_order_id")
    live = [p for p in placements if p.error is None]
    if not live:
        return
    try:
        _place_live(conn, live, now, own_transaction)
    except BaseException:
        if own_transaction:
            round_trips.rollback(conn)
        raise
    for placement in live:
        if placement.same_as is not None:
            placement.order = placement.same_as.order


def _place_live(conn: Connection, live: list[Placement], now: datetime | None,
                own_transaction: bool) -> None:
    users = sorted({p.user_id for p in live})
    client_keys = sorted({(p.user_id, p.request["client_order_id"]) for p in live
                          if p.request.get("client_order_id") is not None})
    wanted = sorted({(p.user_id, _hold_currency(p.request)) for p in live})
    found = round_trips.last_row(conn, _READ_SQL[own_transaction], {
        "users": users, "symbols": sorted({p.request["market"] for p in live}),
        "client_users": [k[0] for k in client_keys], "client_ids": [k[1] for k in client_keys],
        "balance_users": [k[0] for k in wanted], "balance_currencies": [k[1] for k in wanted],
        "reserved": sorted({p.reserved_id for p in live if p.reserved_id is not None}),
        "orders": len(live)})
    assert found is not None
    now = now or found.now
    markets = {m["symbol"]: _market_row(m) for m in found.markets}
    open_orders = {int(user): n for user, n in found.open_orders.items()}
    available = {(user, currency): Decimal(amount) for user, currency, amount in found.balances
                 if amount is not None}
    by_client, by_id = _earlier_orders(conn, found.earlier)
    claimed: dict[tuple[int, str], Placement] = {}
    for placement in live:
        key = (placement.user_id, placement.request.get("client_order_id"))
        row = by_id.get(placement.reserved_id) or by_client.get(key)
        if row is not None:   # committed before: by an earlier request, or by this one
            placement.created = row.id == placement.reserved_id
            if placement.created and row.user_id != placement.user_id:
                raise ReservedIdTaken(f"order {row.id} is not this placement's")
            placement.order = view(row, _scales_of(markets, row.market) if row.market in
                                   markets else market_scales(conn, row.market))
            continue
        if key[1] is not None and key in claimed:
            placement.same_as = claimed[key]
            continue
        try:
            _decide(placement, markets, open_orders, available, now)
        except (OrderError, LedgerError, AmountError) as error:
            placement.error = error
            continue
        if key[1] is not None:
            claimed[key] = placement
    accepted = [p for p in live if p.values]
    holds = _holds(conn, accepted, sorted(found.ids), sorted(found.sequences))
    if accepted or own_transaction:
        try:
            post_new(conn, holds, {column: [p.values[column] for p in accepted]
                                   for column in _COLUMNS} if accepted else {},
                     before=(_INSERT_ORDERS,) if accepted else (),
                     after=("COMMIT",) if own_transaction else ())
        except DBAPIError as error:   # what post_new left untranslated: not the ledger's
            if accepted and own_transaction and not outcomes.rolled_back(error):
                raise CommitOutcomeUnknown("an order batch's COMMIT went unanswered") from error
            raise
    for placement in accepted:
        placement.order = view(_OrderRow(**placement.values, created_at=found.now,
                                         updated_at=found.now),
                               _scales_of(markets, placement.values["market"]))
        placement.created = True


def _hold_currency(request: dict[str, Any]) -> str:
    """The currency an order would hold, by its market's symbol (BASE-QUOTE)."""
    base, _, quote = str(request.get("market", "")).partition("-")
    return base if request.get("side") == "sell" else quote


def _decide(placement: Placement, markets: dict[str, Any], open_orders: dict[int, int],
            available: dict[tuple[int, str], Decimal], now: datetime) -> None:
    request, user_id = placement.request, placement.user_id
    found = markets.get(request["market"])
    if found is None:
        raise UnknownMarket(f"no market {request['market']!r}; see GET /v1/markets",
                            field="market")
    market = Market(*found[:9])
    if not market.is_open:
        raise MarketHalted(f"{market.symbol} is halted and takes no orders", field="market")
    scales = {market.base: found.base_scale, market.quote: found.quote_scale}
    values = _validated(request, market, scales, found.last_price, now)
    if open_orders.get(user_id, 0) >= ORDERS_OPEN_PER_USER_MAX:
        raise InvalidOrder(f"at most {ORDERS_OPEN_PER_USER_MAX} open orders; cancel some first",
                           code="too_many_open_orders")
    hold_currency = market.base if values["side"] == "sell" else market.quote
    balance_left = available.get((user_id, hold_currency), Decimal(0))
    hold = _hold(market, scales, values, balance_left)
    if hold > balance_left:
        scale = scales[hold_currency]
        raise InsufficientFunds(f"this order holds {format_amount(hold, scale)} {hold_currency}"
                                f"; {format_amount(balance_left, scale)} is available")
    available[(user_id, hold_currency)] = balance_left - hold
    open_orders[user_id] = open_orders.get(user_id, 0) + 1
    placement.values = {
        "user_id": user_id, "market": market.symbol,
        "client_order_id": request.get("client_order_id"),
        "status": UNTRIGGERED if values["type"].startswith("stop_") else ACCEPTED,
        "hold_currency": hold_currency, "hold": hold, **values}


def _earlier_orders(conn: Connection, ids: list[int]
                    ) -> tuple[dict[tuple[int, str], Any], dict[int, Any]]:
    """The earlier orders of the batch's retries: by (user, client_order_id), and by id."""
    if not ids:
        return {}, {}
    rows = conn.execute(select(orders).where(orders.c.id.in_(ids))).all()
    return ({(row.user_id, row.client_order_id): row for row in rows
             if row.client_order_id is not None}, {row.id: row for row in rows})


def _holds(conn: Connection, accepted: list[Placement], ids: list[int],
           sequences: list[int]) -> list[Transfer]:
    """The accepted orders' holds; each placement keeps its order's id from here on (an order
    that a failed attempt may have inserted goes in again under the same id, or not at
    all: the primary key and the hold's idempotency key refuse a second)."""
    holds, fresh = [], iter(ids)
    for placement, sequence in zip(accepted, sequences):
        if placement.reserved_id is None:
            placement.reserved_id = next(fresh)
        order_id, values = placement.reserved_id, placement.values
        values.update(id=order_id, sequence=sequence)
        user_id, currency = values["user_id"], values["hold_currency"]
        holds.append(move(f"hold:order:{order_id}", "order_hold",
                          account(conn, user_id, currency, AccountKind.AVAILABLE),
                          account(conn, user_id, currency, AccountKind.HELD),
                          values["hold"], f"order:{order_id}"))
    return holds


class _OrderRow:
    """A new order as its row reads back, for ``view``: what was inserted, and the
    columns' defaults."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values, reject_reason=None, filled_quantity=Decimal(0),
                             filled_notional=Decimal(0), fee_paid=Decimal(0),
                             hold_remaining=values["hold"])


class _MarketRow(NamedTuple):
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_notional: Decimal
    maker_fee_bps: int
    taker_fee_bps: int
    status: str
    base_scale: int
    quote_scale: int
    last_price: Decimal | None


def _market_row(found: dict[str, Any]) -> _MarketRow:
    decimals = ("tick_size", "lot_size", "min_notional", "last_price")
    return _MarketRow(**{name: Decimal(value) if name in decimals and value is not None
                         else value for name, value in found.items()})


def _scales_of(markets: dict[str, Any], symbol: str) -> dict[str, int]:
    found = markets[symbol]
    return {found.base: found.base_scale, found.quote: found.quote_scale}


def _validated(request: dict[str, Any], market: Market, scales: dict[str, int],
               last_price: Decimal | None, now: datetime) -> dict[str, Any]:
    kind, side = request["type"], request["side"]
    tif = request.get("time_in_force") or ("ioc" if kind == "market" else "gtc")
    _require(kind in ("limit", "stop_limit"), "price", request)
    _require(kind.startswith("stop_"), "stop_price", request)
    if kind == "market" and tif not in ("ioc", "fok"):
        raise InvalidOrder("a market order is ioc or fok", field="time_in_force")
    if request.get("post_only") and (kind != "limit" or tif not in ("gtc", "gtd")):
        raise InvalidOrder("post_only is for gtc or gtd limit orders", field="post_only")
    quote_scale, base_scale = scales[market.quote], scales[market.base]
    price = _on_step(request, "price", quote_scale, market.tick_size, "price_off_tick")
    stop_price = _on_step(request, "stop_price", quote_scale, market.tick_size,
                          "price_off_tick")
    if ("quantity" in request) == ("quote_quantity" in request):
        raise InvalidOrder("send quantity, or (market buys only) quote_quantity",
                           field="quantity")
    quantity = _on_step(request, "quantity", base_scale, market.lot_size, "quantity_off_lot")
    quote_quantity = None
    if "quote_quantity" in request:
        if kind != "market" or side != "buy":
            raise InvalidOrder("quote_quantity is for market buys", field="quote_quantity")
        quote_quantity = parse_amount(request["quote_quantity"], quote_scale,
                                      field="quote_quantity")
    reference = price or stop_price or (None if quote_quantity else last_price)
    notional = quote_quantity if quote_quantity is not None else (
        MONEY.multiply(reference, quantity) if reference is not None and quantity else None)
    if notional is not None and notional < market.min_notional:
        raise InvalidOrder(f"price x quantity must be at least {market.min_notional} "
                           f"{market.quote}", field="quantity", code="below_min_notional")
    if stop_price is not None and last_price is not None and (
            stop_price <= last_price if side == "buy" else stop_price >= last_price):
        raise InvalidOrder(f"a {side} stop must be {'above' if side == 'buy' else 'below'} "
                           f"the last price {last_price}", field="stop_price",
                           code="stop_price_wrong_side")
    expire_at = _expiry(request, tif, now)
    return {"side": side, "type": kind, "time_in_force": tif, "price": price,
            "stop_price": stop_price, "quantity": quantity, "quote_quantity": quote_quantity,
            "post_only": bool(request.get("post_only")), "expire_at": expire_at}


def _require(needed: bool, field: str, request: dict[str, Any]) -> None:
    if needed and field not in request:
        raise InvalidOrder(f"{field} is required for this order type", field=field)
    if not needed and field in request:
        raise InvalidOrder(f"{field} does not apply to this order type; leave it out",
                           field=field)


def _on_step(request: dict[str, Any], field: str, scale: int, step: Decimal,
             code: str) -> Decimal | None:
    if field not in request:
        return None
    value = parse_amount(request[field], scale, field=field)
    if MONEY.remainder(value, step) != 0:
        raise InvalidOrder(f"{field} must be a multiple of {step}", field=field, code=code)
    return value


def _expiry(request: dict[str, Any], tif: str, now: datetime) -> datetime | None:
    raw = request.get("expire_at")
    if tif != "gtd":
        if raw is not None:
            raise InvalidOrder("expire_at goes with time_in_force gtd", field="expire_at")
        return None
    if raw is None:
        raise InvalidOrder("a gtd order needs expire_at", field="expire_at")
    try:
        expire_at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidOrder("expire_at is an ISO 8601 time such as 2026-12-31T23:59:00Z",
                           field="expire_at") from None
    if expire_at.tzinfo is None:
        raise InvalidOrder("expire_at needs a time zone, such as Z", field="expire_at")
    if expire_at <= now:
        raise InvalidOrder("expire_at must be in the future", field="expire_at",
                           code="expire_at_in_past")
    if expire_at > now + EXPIRY_AHEAD_MAX:
        raise InvalidOrder("expire_at is at most a year ahead", field="expire_at")
    return expire_at


def _hold(market: Market, scales: dict[str, int], values: dict[str, Any],
          available: Decimal) -> Decimal:
    """What the order may need, in its hold currency (see the module's docstring)."""
    if values["side"] == "sell":
        return values["quantity"]
    quote_scale = scales[market.quote]
    fee_bps = max(market.maker_fee_bps, market.taker_fee_bps)
    if values["quote_quantity"] is not None:
        notional = values["quote_quantity"]
    elif values["type"] == "market":
        if available <= 0:
            raise InsufficientFunds(f"no {market.quote} available to buy with")
        return available
    elif values["type"] == "stop_market":
        notional = round_up(MONEY.multiply(
            MONEY.multiply(values["stop_price"], values["quantity"]),
            1 + Decimal(STOP_MARKET_PROTECTION_BPS) / 10_000), quote_scale)
    else:
        return buyer_cost(values["price"], values["quantity"], fee_bps, quote_scale)
    return notional + fee(notional, fee_bps, quote_scale)


def request_cancel(conn: Connection, user_id: int, order_id: int, kind: str = "cancel"
                   ) -> dict[str, Any]:
    """Queue a cancel (or expiry) for the matcher; the order changes when it is processed."""
    row = conn.execute(select(orders).where(orders.c.id == order_id,
                                            orders.c.user_id == user_id)).first()
    if row is None:
        raise OrderNotFound("no order of yours has this id", field="id")
    if row.status not in ACTIVE:
        raise OrderNotCancellable(f"the order is {row.status} already", field="id")
    conn.execute(text("INSERT INTO matcher_requests (sequence, market, kind, order_id) "
                      "VALUES (nextval('matcher_sequence'), :m, :k, :o) "
                      "ON CONFLICT DO NOTHING"), {"m": row.market, "k": kind, "o": row.id})
    return view(row, market_scales(conn, row.market))


def request_cancel_all(conn: Connection, user_id: int, market: str) -> int:
    """Queue a cancel for each of the user's open orders in ``market`` (one statement)."""
    return len(conn.execute(_CANCEL_ALL, {"user_id": user_id, "market": market}).all())



def view(row: Any, scales: dict[str, int]) -> dict[str, Any]:
    """An order as the API shows it: amounts as strings at their currency's scale, except
    ``filled_notional``: a sum of prices times quantities, exact, at the scale of such a
    product (the quote's decimals plus the base's)."""
    base, quote = row.market.split("-")

    def amount(value: Decimal | None, currency: str) -> str | None:
        return None if value is None else format_amount(value, scales[currency])

    return {
        "id": str(row.id), "market": row.market, "client_order_id": row.client_order_id,
        "side": row.side, "type": row.type, "time_in_force": row.time_in_force,
        "price": amount(row.price, quote), "stop_price": amount(row.stop_price, quote),
        "quantity": amount(row.quantity, base),
        "quote_quantity": amount(row.quote_quantity, quote),
        "post_only": row.post_only,
        "expire_at": row.expire_at.isoformat() if row.expire_at else None,
        "status": row.status, "reject_reason": row.reject_reason,
        "filled_quantity": amount(row.filled_quantity, base),
        "filled_notional": format_amount(row.filled_notional, scales[quote] + scales[base]),
        "fee_paid": amount(row.fee_paid, quote),
        "held": amount(row.hold_remaining, row.hold_currency),
        "held_currency": row.hold_currency,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
