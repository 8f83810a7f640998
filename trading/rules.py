"""The rules of an order, pure: validation without the book, the open-order bound, and
what an order holds (decided on balances its caller read under the user's lock).

What is held:
* a sell holds its base quantity;
* a limit (or stop-limit, or take-profit-limit) buy holds price x quantity plus the larger
  of the two fees;
* a market buy by ``quote_quantity`` holds that amount plus the taker fee;
* a market buy by ``quantity`` holds the buyer's whole available quote balance (the
  matcher spends what the fills cost and the rest is released at once);
* a stop-market or take-profit-market buy holds quantity x stop price x (1 + 5 %) plus
  the fee: once triggered it buys at most what that covers (its price protection).

A conditional order's stop price must not be reached when it is placed: a stop buy and a
take-profit sell go above the last price, a stop sell and a take-profit buy below it
(``matcher.order_types.triggers_rising``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from ledger import InsufficientFunds, format_amount, parse_amount
from money import MONEY, round_up
from money import buyer_cost, fee
from trading.errors import InvalidOrder, MarketHalted, UnknownMarket
from matcher.markets import Market
from matcher.order_types import CONDITIONAL, LIMIT, MARKET, STOP_MARKET, TAKE_PROFIT_MARKET
from matcher.order_types import WITH_PRICE, triggers_rising
from matcher.statuses import ACCEPTED, UNTRIGGERED


ORDERS_OPEN_PER_USER_MAX = 200


EXPIRY_AHEAD_MAX = timedelta(days=366)


STOP_MARKET_PROTECTION_BPS = 500


CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class MarketRow(NamedTuple):
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


def market_row(found: dict[str, Any]) -> MarketRow:
    last_price = found["last_price"]
    return MarketRow(found["symbol"], found["base"], found["quote"], Decimal(found["tick_size"]),
                     Decimal(found["lot_size"]), Decimal(found["min_notional"]),
                     found["maker_fee_bps"], found["taker_fee_bps"], found["status"],
                     found["base_scale"], found["quote_scale"],
                     None if last_price is None else Decimal(last_price))


def hold_currency(request: dict[str, Any]) -> str:
    """The currency an order would hold, by its market's symbol (BASE-QUOTE)."""
    base, _, quote = str(request.get("market", "")).partition("-")
    return base if request.get("side") == "sell" else quote


def decide(user_id: int, request: dict[str, Any], markets: dict[str, MarketRow],
           open_orders: dict[int, int], available: dict[tuple[int, str], Decimal],
           now: datetime) -> dict[str, Any]:
    """The row of an order that passes every rule, with its hold; a refusal is raised. The
    order's hold and its place among the open orders are counted in ``available`` and
    ``open_orders``, so that the next order of the batch is decided after it."""
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
    return {
        "user_id": user_id, "market": market.symbol,
        "client_order_id": request.get("client_order_id"),
        "status": UNTRIGGERED if values["type"] in CONDITIONAL else ACCEPTED,
        "hold_currency": hold_currency, "hold": hold, **values}


def _validated(request: dict[str, Any], market: Market, scales: dict[str, int],
               last_price: Decimal | None, now: datetime) -> dict[str, Any]:
    kind, side = request["type"], request["side"]
    tif = request.get("time_in_force") or ("ioc" if kind == MARKET else "gtc")
    _require(kind in WITH_PRICE, "price", request)
    _require(kind in CONDITIONAL, "stop_price", request)
    if kind == MARKET and tif not in ("ioc", "fok"):
        raise InvalidOrder("a market order is ioc or fok", field="time_in_force")
    if request.get("post_only") and (kind != LIMIT or tif not in ("gtc", "gtd")):
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
        if kind != MARKET or side != "buy":
            raise InvalidOrder("quote_quantity is for market buys", field="quote_quantity")
        quote_quantity = parse_amount(request["quote_quantity"], quote_scale,
                                      field="quote_quantity")
    reference = price or stop_price or (None if quote_quantity else last_price)
    notional = quote_quantity if quote_quantity is not None else (
        MONEY.multiply(reference, quantity) if reference is not None and quantity else None)
    if notional is not None and notional < market.min_notional:
        raise InvalidOrder(f"price x quantity must be at least {market.min_notional} "
                           f"{market.quote}", field="quantity", code="below_min_notional")
    _trigger_ahead(kind, side, stop_price, last_price)
    expire_at = _expiry(request, tif, now)
    return {"side": side, "type": kind, "time_in_force": tif, "price": price,
            "stop_price": stop_price, "quantity": quantity, "quote_quantity": quote_quantity,
            "post_only": bool(request.get("post_only")), "expire_at": expire_at}


def _trigger_ahead(kind: str, side: str, stop_price: Decimal | None,
                   last_price: Decimal | None) -> None:
    """Refuse a conditional order that the last price has reached already: it would trigger
    at once, which its trader did not ask for (a limit or market order does that)."""
    if stop_price is None or last_price is None:
        return
    rising = triggers_rising(kind, side)
    if stop_price <= last_price if rising else stop_price >= last_price:
        name = "stop" if kind.startswith("stop_") else "take-profit"
        raise InvalidOrder(f"a {side} {name} must be {'above' if rising else 'below'} "
                           f"the last price {last_price}", field="stop_price",
                           code="stop_price_wrong_side")


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
        quantity: Decimal = values["quantity"]
        return quantity
    quote_scale = scales[market.quote]
    fee_bps = max(market.maker_fee_bps, market.taker_fee_bps)
    notional: Decimal
    if values["quote_quantity"] is not None:
        notional = values["quote_quantity"]
    elif values["type"] == MARKET:
        if available <= 0:
            raise InsufficientFunds(f"no {market.quote} available to buy with")
        return available
    elif values["type"] in (STOP_MARKET, TAKE_PROFIT_MARKET):  # bounded in the matcher
        notional = round_up(MONEY.multiply(
            MONEY.multiply(values["stop_price"], values["quantity"]),
            1 + Decimal(STOP_MARKET_PROTECTION_BPS) / 10_000), quote_scale)
    else:
        return buyer_cost(values["price"], values["quantity"], fee_bps, quote_scale)
    return notional + fee(notional, fee_bps, quote_scale)
