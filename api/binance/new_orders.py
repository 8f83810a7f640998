"""A Binance ``POST /api/v3/order`` as the native order request (``trading.rules``
decides it like any other), and which answer it asked for.

Amounts are taken as sent when they are exact multiples of the market's steps
(``"0.00100000"`` is 0.001): anything that would need rounding is refused with Binance's
filter failure, never rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, NamedTuple

from api.binance.errors import COMBINATION, NOT_REQUIRED, BinanceError, filter_failure
from api.binance.params import Params
from api.binance.shapes import SELF_TRADE_PREVENTION
from api.binance.symbols import Listed
from money import MONEY


class Kind(NamedTuple):
    native: str
    price: bool          # takes a limit price
    stop: bool           # takes a stop price
    time_in_force: bool  # takes (and needs) timeInForce
    post_only: bool = False


KINDS = {"LIMIT": Kind("limit", True, False, True),
         "LIMIT_MAKER": Kind("limit", True, False, False, post_only=True),
         "MARKET": Kind("market", False, False, False),
         "STOP_LOSS": Kind("stop_market", False, True, False),
         "STOP_LOSS_LIMIT": Kind("stop_limit", True, True, True),
         "TAKE_PROFIT": Kind("take_profit_market", False, True, False),
         "TAKE_PROFIT_LIMIT": Kind("take_profit_limit", True, True, True)}
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
ANSWERS = ("ACK", "RESULT", "FULL")
# Binance's pattern less "/", which our client_order_id does not take.
CLIENT_ORDER_ID = re.compile(r"[.A-Za-z0-9:_-]{1,36}")
UNSUPPORTED = ("icebergQty", "trailingDelta")


def native_order(params: Params, listed: Listed) -> tuple[dict[str, Any], str]:
    """The native request and the answer asked for (ACK, RESULT or FULL)."""
    side = params.choice("side", ("BUY", "SELL"), -1117, "Invalid side.")
    name = params.choice("type", tuple(KINDS), -1116, "Invalid orderType.")
    if side is None or name is None:
        raise BinanceError(400, -1102, "Mandatory parameter '%s' was not sent, was empty/null, "
                           "or malformed." % ("side" if side is None else "type"))
    kind = KINDS[name]
    for unsupported in UNSUPPORTED:
        if params.decimal(unsupported):
            raise BinanceError(400, -1014, COMBINATION)
    if params.text("selfTradePreventionMode") not in (None, SELF_TRADE_PREVENTION):
        raise BinanceError(400, -1014, COMBINATION)
    request: dict[str, Any] = {"market": listed.market.symbol, "side": side.lower(),
                               "type": kind.native}
    _time_in_force(params, kind, request)
    if kind.post_only:
        request["post_only"] = True
    _amounts(params, kind, listed, request)
    client_id = params.text("newClientOrderId")
    if client_id is not None:
        if not CLIENT_ORDER_ID.fullmatch(client_id):
            raise BinanceError(400, -1100, "Illegal characters found in parameter "
                               "'newClientOrderId'; legal range is '^[.A-Za-z0-9:_-]{1,36}$'.")
        request["client_order_id"] = client_id
    answer = params.choice("newOrderRespType", ANSWERS, -1100, "Illegal characters found in "
                           "parameter 'newOrderRespType'; legal values are ACK, RESULT, FULL.",
                           default="FULL" if kind.native in ("limit", "market") else "ACK")
    assert answer is not None
    return request, answer


def _time_in_force(params: Params, kind: Kind, request: dict[str, Any]) -> None:
    tif = params.choice("timeInForce", TIME_IN_FORCE, -1115, "Invalid timeInForce.")
    if kind.time_in_force:
        if tif is None:
            raise BinanceError(400, -1102, "Mandatory parameter 'timeInForce' was not sent, "
                               "was empty/null, or malformed.")
        request["time_in_force"] = tif.lower()
    elif tif is not None:
        raise BinanceError(400, -1106, NOT_REQUIRED.replace("%s", "timeInForce"))


def _amounts(params: Params, kind: Kind, listed: Listed, request: dict[str, Any]) -> None:
    market = listed.market
    lot_filter = "MARKET_LOT_SIZE" if kind.native == "market" else "LOT_SIZE"
    quantity, quote = params.decimal("quantity"), params.decimal("quoteOrderQty")
    if quote is not None:
        if kind.native != "market" or quantity is not None:
            raise BinanceError(400, -1106 if quantity is None else -1102,
                               NOT_REQUIRED.replace("%s", "quoteOrderQty") if quantity is None
                               else "Mandatory parameter 'quantity' or 'quoteOrderQty' must be "
                               "sent, but not both.")
        request["quote_quantity"] = _on_step(quote, Decimal(1).scaleb(-listed.quote_scale),
                                             "NOTIONAL")
    elif quantity is None:
        raise BinanceError(400, -1102, "Mandatory parameter 'quantity' was not sent, was "
                           "empty/null, or malformed.")
    else:
        request["quantity"] = _on_step(quantity, market.lot_size, lot_filter)
    for name, field, wanted in (("price", "price", kind.price),
                                ("stopPrice", "stop_price", kind.stop)):
        value = params.decimal(name)
        if wanted and value is None:
            raise BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was "
                               "empty/null, or malformed.")
        if value is not None and not wanted:
            raise BinanceError(400, -1106, NOT_REQUIRED.replace("%s", name))
        if value is not None:
            request[field] = _on_step(value, market.tick_size, "PRICE_FILTER")


def _on_step(value: Decimal, step: Decimal, filter_name: str) -> str:
    """The value as the native API takes it, when it is a positive multiple of ``step``."""
    if value <= 0 or MONEY.remainder(value, step) != 0:
        raise BinanceError(400, -1013, filter_failure(filter_name))
    return f"{value.normalize():f}"
