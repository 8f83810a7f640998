"""Rows of the database as the core and settlement want them, and back; the accounts of
settlement's transfers, found once per batch."""

from __future__ import annotations

from typing import Any
from sqlalchemy import Connection
from ledger import AccountKind, account
from matcher.book import Order
from matcher.markets import Market
from matcher.order_types import AT_MARKET
from matcher.settlement import OrderState
from ledger import Entry, Transfer
from matcher.settlement import Posting


class AccountCache:
    """Account lookups for one batch (each at most once per batch)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.found: dict[tuple[int | None, str, str], Any] = {}

    def transfers(self, postings: list[Posting]) -> list[Transfer]:
        """Settlement's transfers with their accounts."""
        return [Transfer(p.key, p.kind, tuple(Entry(self.get(leg.owner, leg.currency, leg.kind),
                                                    leg.amount) for leg in p.legs), p.reference)
                for p in postings]

    def get(self, owner: int | None, currency: str, kind: str) -> Any:
        key = (owner, currency, kind)
        if key not in self.found:
            self.found[key] = account(self.conn, owner, currency, AccountKind(kind))
        return self.found[key]


def order_state(row: Any) -> OrderState:
    return OrderState(row.id, row.user_id, row.side, row.hold_currency, row.hold_remaining,
                      row.filled_quantity, row.filled_notional, row.fee_paid, row.fee_accrued,
                      row.status, row.reject_reason, row.triggered_at)


def core_order(row: Any) -> Order:
    is_market_buy = row.type in AT_MARKET and row.side == "buy"  # spends within its hold
    remaining = None if row.quantity is None else row.quantity - row.filled_quantity
    return Order(row.id, row.user_id, row.side, row.type, row.time_in_force, remaining,
                 row.price, row.stop_price, row.hold_remaining if is_market_buy else None,
                 row.post_only, row.expire_at, row.sequence,
                 triggered=row.triggered_at is not None)


def fill_rows(trade: dict[str, Any], market: Market) -> list[dict[str, Any]]:
    maker_side = "sell" if trade["taker_side"] == "buy" else "buy"
    common = {"price": trade["price"], "quantity": trade["quantity"],
              "transfer_key": trade["transfer_key"]}
    return [
        common | {"user_id": trade["maker_user_id"], "order_id": trade["maker_order_id"],
                  "side": maker_side, "fee": trade["maker_fee"], "liquidity": "maker"},
        common | {"user_id": trade["taker_user_id"], "order_id": trade["taker_order_id"],
                  "side": trade["taker_side"], "fee": trade["taker_fee"], "liquidity": "taker"},
    ]


def columns(states: list[OrderState]) -> dict[str, list]:
    return {"ids": [s.id for s in states], "statuses": [s.status for s in states],
            "reasons": [s.reject_reason for s in states],
            "filled": [s.filled_quantity for s in states],
            "notional": [s.filled_notional for s in states],
            "fees": [s.fee_paid for s in states], "accrued": [s.fee_accrued for s in states],
            "holds": [s.hold_remaining for s in states],
            "triggered": [s.triggered_at for s in states],
            "priorities": [s.priority for s in states]}
