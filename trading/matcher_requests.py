"""Requests to a market's matcher besides new orders: cancels and expiries, queued in
``matcher_requests`` (the matcher applies them in sequence); which markets have work."""

from __future__ import annotations

from typing import Any
from sqlalchemy import Connection, select, text
from db.schema import orders
from ledger.scales import market_scales
from trading.errors import OrderNotCancellable, OrderNotFound
from matcher.statuses import ACTIVE
from trading.views import view


_CANCEL_ALL = text(f"""
    INSERT INTO matcher_requests (sequence, market, kind, order_id)
    SELECT nextval('matcher_sequence'), market, 'cancel', id
      FROM (SELECT market, id FROM orders
             WHERE user_id = :user_id AND market = :market AND status IN {ACTIVE}
             ORDER BY id) AS open_orders
    RETURNING order_id""")


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


def request_cancel_all(conn: Connection, user_id: int, market: str) -> list[int]:
    """Queue a cancel for each of the user's open orders in ``market`` (one statement);
    their ids."""
    return list(conn.execute(_CANCEL_ALL, {"user_id": user_id, "market": market}).scalars())


def pending_markets(conn: Connection) -> list[str]:
    """The markets with requests not processed yet."""
    return list(conn.execute(text("SELECT DISTINCT market FROM matcher_requests "
                                  "WHERE processed_at IS NULL")).scalars())
