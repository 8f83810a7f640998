"""Orders and fills as the API shows them: amounts as strings at their currency's scale."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from ledger import format_amount
from trading.kept_views import KeptViews


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


def fill_view(row: Any, scales: dict[str, int]) -> dict[str, Any]:
    """A fill (one side of a trade) as the API shows it."""
    base, quote = row.market.split("-")
    return {"id": str(row.id), "trade_id": str(row.trade_id), "order_id": str(row.order_id),
            "market": row.market, "side": row.side,
            "price": format_amount(row.price, scales[quote]),
            "quantity": format_amount(row.quantity, scales[base]),
            "fee": format_amount(row.fee, scales[row.fee_currency]),
            "fee_currency": row.fee_currency, "liquidity": row.liquidity,
            "created_at": row.created_at.isoformat()}


# The orders that bots poll (their open orders, an order's state), each view made once
# per change of its row.
kept_view: KeptViews[dict[str, int]] = KeptViews(view)
