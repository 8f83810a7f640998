"""Order entry: validate everything that needs no book, then insert and hold in one go.

In one transaction: the order row, its request to the matcher (one global sequence
number for both) and the ledger transfer that holds what the order may need.
Insufficient funds is decided there by the ledger, race-free.

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
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, text

from db.schema import currencies, orders
from ledger import (
    AccountKind, InsufficientFunds, account, balance, format_amount, move, parse_amount, post,
)
from ledger.amounts import MONEY, round_up
from matcher.book import buyer_cost, fee
from matcher.errors import (
    InvalidOrder, MarketHalted, OrderNotCancellable, OrderNotFound, UnknownMarket,
)
from matcher.markets import Market

ORDERS_OPEN_PER_USER_MAX = 200
EXPIRY_AHEAD_MAX = timedelta(days=366)
STOP_MARKET_PROTECTION_BPS = 500
ACTIVE_STATUSES = ("accepted", "open", "partially_filled", "untriggered")
_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# The market, its currencies' scales and its last price in one round trip.
# One round trip: lock the user's row (serialising their entries; NO KEY UPDATE, because
# the matcher's inserts of fills take KEY SHARE on it and FOR UPDATE would deadlock with
# the account locks a batch holds), the market with its currencies' scales and last
# price, and an earlier order with the same client_order_id.
_ENTRY_CONTEXT = text("""
    SELECT m.symbol, m.base, m.quote, m.tick_size, m.lot_size, m.min_notional,
           m.maker_fee_bps, m.taker_fee_bps, m.status,
           b.scale AS base_scale, q.scale AS quote_scale, s.last_price,
           (SELECT id FROM orders WHERE user_id = :u AND client_order_id = :c) AS earlier_id
      FROM users u
      LEFT JOIN markets m ON m.symbol = :symbol
      LEFT JOIN currencies b ON b.code = m.base
      LEFT JOIN currencies q ON q.code = m.quote
      LEFT JOIN market_state s ON s.market = m.symbol
     WHERE u.id = :u
       FOR NO KEY UPDATE OF u""")
_BY_CLIENT_ORDER_ID = text("SELECT * FROM orders WHERE user_id = :u AND client_order_id = :c")
# The order and its request to the matcher, with one sequence number, in one statement.
# It is a new statement, so it sees every order committed before the user's lock was
# granted: the open-order bound holds under concurrency. No row back: the bound was
# reached, or the same client_order_id won a race (the caller tells which).
_INSERT_ORDER_AND_REQUEST = text(f"""
    WITH new_order AS (
        INSERT INTO orders (user_id, market, client_order_id, side, type, time_in_force,
                            price, stop_price, quantity, quote_quantity, post_only, expire_at,
                            status, hold_currency, hold_amount, hold_remaining, sequence)
        SELECT :user_id, :market, :client_order_id, :side, :type, :time_in_force, :price,
               :stop_price, :quantity, :quote_quantity, :post_only, :expire_at, :status,
               :hold_currency, :hold, :hold, nextval('matcher_sequence')
         WHERE (SELECT count(*) FROM orders WHERE user_id = :user_id
                   AND status IN {ACTIVE_STATUSES}) < {ORDERS_OPEN_PER_USER_MAX}
        ON CONFLICT (user_id, client_order_id) DO NOTHING
        RETURNING *),
    request AS (
        INSERT INTO matcher_requests (sequence, market, kind, order_id)
        SELECT sequence, market, 'order', id FROM new_order)
    SELECT * FROM new_order""")


def place(conn: Connection, user_id: int, request: dict[str, Any], now: datetime
          ) -> tuple[dict[str, Any], bool]:
    """The order (new, or the earlier one with the same client_order_id) and whether it is new."""
    client_order_id = request.get("client_order_id")
    if client_order_id is not None and not _CLIENT_ORDER_ID.fullmatch(client_order_id):
        raise InvalidOrder("client_order_id has 1 to 64 letters, digits or _ . : -",
                           field="client_order_id")
    found = conn.execute(_ENTRY_CONTEXT, {"u": user_id, "symbol": request["market"],
                                          "c": client_order_id}).one()   # users stay
    if found.earlier_id is not None:
        return _by_client_id(conn, user_id, client_order_id), False
    if found.symbol is None:
        raise UnknownMarket(f"no market {request['market']!r}; see GET /v1/markets",
                            field="market")
    market = Market(*found[:9])
    if not market.is_open:
        raise MarketHalted(f"{market.symbol} is halted and takes no orders", field="market")
    scales = {market.base: found.base_scale, market.quote: found.quote_scale}
    last_price = found.last_price
    values = _validated(request, market, scales, last_price, now)
    hold_currency, hold = _hold(conn, user_id, market, scales, values)
    status = "untriggered" if values["type"].startswith("stop_") else "accepted"
    row = conn.execute(_INSERT_ORDER_AND_REQUEST, {
        "user_id": user_id, "market": market.symbol, "client_order_id": client_order_id,
        "status": status, "hold_currency": hold_currency, "hold": hold, **values}).first()
    if row is None:
        if client_order_id is not None:
            earlier = _by_client_id(conn, user_id, client_order_id)
            if earlier is not None:
                return earlier, False
        raise InvalidOrder(f"at most {ORDERS_OPEN_PER_USER_MAX} open orders; cancel some first",
                           code="too_many_open_orders")
    post(conn, move(f"hold:order:{row.id}", "order_hold",
                    account(conn, user_id, hold_currency, AccountKind.AVAILABLE),
                    account(conn, user_id, hold_currency, AccountKind.HELD), hold,
                    f"order:{row.id}"))
    return view(row, scales), True


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


def _hold(conn: Connection, user_id: int, market: Market, scales: dict[str, int],
          values: dict[str, Any]) -> tuple[str, Decimal]:
    if values["side"] == "sell":
        return market.base, values["quantity"]
    quote_scale = scales[market.quote]
    fee_bps = max(market.maker_fee_bps, market.taker_fee_bps)
    if values["quote_quantity"] is not None:
        notional = values["quote_quantity"]
    elif values["type"] == "market":
        available = balance(conn, account(conn, user_id, market.quote, AccountKind.AVAILABLE))
        if available <= 0:
            raise InsufficientFunds(f"no {market.quote} available to buy with")
        return market.quote, available
    elif values["type"] == "stop_market":
        notional = round_up(MONEY.multiply(
            MONEY.multiply(values["stop_price"], values["quantity"]),
            1 + Decimal(STOP_MARKET_PROTECTION_BPS) / 10_000), quote_scale)
    else:
        return market.quote, buyer_cost(values["price"], values["quantity"], fee_bps,
                                        quote_scale)
    return market.quote, notional + fee(notional, fee_bps, quote_scale)


def request_cancel(conn: Connection, user_id: int, order_id: int, kind: str = "cancel"
                   ) -> dict[str, Any]:
    """Queue a cancel (or expiry) for the matcher; the order changes when it is processed."""
    row = conn.execute(select(orders).where(orders.c.id == order_id,
                                            orders.c.user_id == user_id)).first()
    if row is None:
        raise OrderNotFound("no order of yours has this id", field="id")
    if row.status not in ACTIVE_STATUSES:
        raise OrderNotCancellable(f"the order is {row.status} already", field="id")
    conn.execute(text("INSERT INTO matcher_requests (sequence, market, kind, order_id) "
                      "VALUES (nextval('matcher_sequence'), :m, :k, :o) "
                      "ON CONFLICT DO NOTHING"), {"m": row.market, "k": kind, "o": row.id})
    return view(row, _scales(conn, row.market))


def request_cancel_all(conn: Connection, user_id: int, market: str) -> int:
    ids = conn.execute(select(orders.c.id).where(
        orders.c.user_id == user_id, orders.c.market == market,
        orders.c.status.in_(ACTIVE_STATUSES)).limit(ORDERS_OPEN_PER_USER_MAX)).scalars().all()
    for order_id in ids:
        request_cancel(conn, user_id, order_id)
    return len(ids)


def _by_client_id(conn: Connection, user_id: int, client_order_id: str) -> dict | None:
    row = conn.execute(_BY_CLIENT_ORDER_ID, {"u": user_id, "c": client_order_id}).first()
    return None if row is None else view(row, _scales(conn, row.market))


def _scales(conn: Connection, market: str) -> dict[str, int]:
    base, quote = market.split("-")
    return dict(conn.execute(select(currencies.c.code, currencies.c.scale).where(
        currencies.c.code.in_([base, quote]))).all())


def view(row: Any, scales: dict[str, int]) -> dict[str, Any]:
    """An order as the API shows it: amounts as strings at their currency's scale."""
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
        "filled_notional": amount(row.filled_notional, quote),
        "fee_paid": amount(row.fee_paid, quote),
        "held": amount(row.hold_remaining, row.hold_currency),
        "held_currency": row.hold_currency,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
