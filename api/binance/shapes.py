"""Our rows in Binance's shapes (section 5 of shared/BINANCE.md): amounts as decimal
strings at their currency's scale, never rounded; times in integer milliseconds; ids as
integers.

Where the two models differ, Binance's meaning is kept: an order whose rest was let go
for lack of liquidity (IOC, market, FOK) is ``EXPIRED``, as is a taker stopped from
trading with its own order; a market buy by quote amount that spent it is ``FILLED``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from api.binance.symbols import Listed
from ledger import format_amount
from matcher import statuses
from trading.kept_views import KeptViews

TYPES = {"market": "MARKET", "limit": "LIMIT", "stop_market": "STOP_LOSS",
         "stop_limit": "STOP_LOSS_LIMIT", "take_profit_market": "TAKE_PROFIT",
         "take_profit_limit": "TAKE_PROFIT_LIMIT"}
STATUSES = {statuses.ACCEPTED: "NEW", statuses.OPEN: "NEW", statuses.UNTRIGGERED: "NEW",
            statuses.PARTIALLY_FILLED: "PARTIALLY_FILLED",
            statuses.FILLED: "FILLED", statuses.CANCELLED: "CANCELED",
            statuses.EXPIRED: "EXPIRED", statuses.REJECTED: "REJECTED"}
LET_GO = {"no_more_liquidity", "fok_not_filled", "self_trade_prevented"}
SELF_TRADE_PREVENTION = "EXPIRE_TAKER"    # what the matcher does: the taker's rest goes


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def moment(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, timezone.utc)


def status(row: Any) -> str:
    if row.reject_reason in LET_GO:
        return "EXPIRED"
    if row.reject_reason == "budget_exhausted" and row.quote_quantity is not None:
        return "FILLED"
    return STATUSES[row.status]


def order_type(row: Any) -> str:
    return "LIMIT_MAKER" if row.post_only else TYPES[row.type]


def acknowledged(placed: dict[str, Any], listed: Listed) -> dict[str, Any]:
    """POST /order's ACK answer, from the native answer (``trading.views.view``)."""
    return {"symbol": listed.symbol, "orderId": int(placed["id"]), "orderListId": -1,
            "clientOrderId": placed["client_order_id"] or "",
            "transactTime": ms(datetime.fromisoformat(placed["created_at"]))}


def order(row: Any, listed: Listed) -> dict[str, Any]:
    """An order as POST /order (RESULT, FULL) and GET /order answer it."""
    base, quote = listed.base_scale, listed.quote_scale
    answer: dict[str, Any] = {
        "symbol": listed.symbol, "orderId": row.id, "orderListId": -1,
        "clientOrderId": row.client_order_id or "", "transactTime": ms(row.created_at)}
    quantity = row.quantity if row.quantity is not None else row.filled_quantity
    answer.update({
        "price": format_amount(row.price or Decimal(0), quote),
        "origQty": format_amount(quantity, base),
        "executedQty": format_amount(row.filled_quantity, base),
        "cummulativeQuoteQty": format_amount(row.filled_notional, quote + base),
        "status": status(row), "timeInForce": row.time_in_force.upper(),
        "type": order_type(row), "side": row.side.upper(),
        "stopPrice": format_amount(row.stop_price or Decimal(0), quote),
        "icebergQty": format_amount(Decimal(0), base),
        "time": ms(row.created_at), "updateTime": ms(row.updated_at),
        "isWorking": row.status not in (statuses.ACCEPTED, statuses.UNTRIGGERED),
        "workingTime": ms(row.triggered_at or row.created_at)
        if row.status != statuses.UNTRIGGERED else -1,
        "origQuoteOrderQty": format_amount(row.quote_quantity or Decimal(0), quote),
        "selfTradePreventionMode": SELF_TRADE_PREVENTION})
    return answer


# The orders that bots poll (GET /order, /openOrders), each shape made once per change
# of its row (``trading.kept_views``).
kept_order: KeptViews[Listed] = KeptViews(order)


def order_fill(row: Any, listed: Listed, scales: dict[str, int]) -> dict[str, Any]:
    """One fill of an order, as the ``fills`` of a FULL answer."""
    return {"price": format_amount(row.price, listed.quote_scale),
            "qty": format_amount(row.quantity, listed.base_scale),
            "commission": format_amount(row.fee, scales[row.fee_currency]),
            "commissionAsset": row.fee_currency, "tradeId": row.trade_id}


def my_trade(row: Any, listed: Listed, scales: dict[str, int]) -> dict[str, Any]:
    """The caller's side of a trade, as GET /myTrades answers it."""
    base, quote = listed.base_scale, listed.quote_scale
    return {"symbol": listed.symbol, "id": row.trade_id, "orderId": row.order_id,
            "orderListId": -1, "price": format_amount(row.price, quote),
            "qty": format_amount(row.quantity, base),
            "quoteQty": format_amount(row.price * row.quantity, quote + base),
            "commission": format_amount(row.fee, scales[row.fee_currency]),
            "commissionAsset": row.fee_currency, "time": ms(row.created_at),
            "isBuyer": row.side == "buy", "isMaker": row.liquidity == "maker",
            "isBestMatch": True}


def public_trade(row: Any, listed: Listed) -> dict[str, Any]:
    base, quote = listed.base_scale, listed.quote_scale
    return {"id": row.id, "price": format_amount(row.price, quote),
            "qty": format_amount(row.quantity, base),
            "quoteQty": format_amount(row.price * row.quantity, quote + base),
            "time": ms(row.created_at), "isBuyerMaker": row.taker_side == "sell",
            "isBestMatch": True}


def aggregate_trade(row: Any, listed: Listed) -> dict[str, Any]:
    """A trade as an aggregate of one (each of our trades has one taker and one maker)."""
    return {"a": row.id, "p": format_amount(row.price, listed.quote_scale),
            "q": format_amount(row.quantity, listed.base_scale), "f": row.id, "l": row.id,
            "T": ms(row.created_at), "m": row.taker_side == "sell", "M": True}
