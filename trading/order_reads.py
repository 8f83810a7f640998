"""The caller's orders as bots poll them: each read one prepared statement.

A bot reads its open orders and each order's state every few seconds per market; built
and compiled by SQLAlchemy's expression language each time, and planned anew by
PostgreSQL, such a read cost more than the rest of its request. These statements are
planned once per connection (``db.round_trips.Prepared``, a generic plan): by the primary
key, or by the partial index of a user's active orders (``orders_active_by_user``, which
the literal ``status IN`` of the text lets a generic plan use), and run by
``db.round_trips.read``. Rows are named tuples of the columns the views of both faces
show (``trading.views``, ``api.binance.shapes``): each column read costs its decoding.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from db import round_trips
from db.schema import orders
from matcher.statuses import ACTIVE

ORDERS_ACTIVE_PER_READ_MAX = 1_000      # above any user's open orders (MAX_NUM_ORDERS 200)
_NO_CURSOR = (1 << 63) - 1
# Not read: user_id (the caller's, asked for), fee_accrued, hold_amount, sequence, priority.
_COLUMNS = ", ".join(column.name for column in orders.c if column.name not in {
    "user_id", "fee_accrued", "hold_amount", "sequence", "priority"})

_ONE = round_trips.Prepared("orders_read_one", text(f"""
    SELECT {_COLUMNS} FROM orders
     WHERE id = CAST(:order_id AS bigint) AND user_id = CAST(:user_id AS bigint)"""))
_ACTIVE_NEWEST_FIRST = round_trips.Prepared("orders_read_active_newest", text(f"""
    SELECT {_COLUMNS} FROM orders
     WHERE user_id = CAST(:user_id AS bigint) AND status IN {ACTIVE}
       AND (CAST(:status AS text) IS NULL OR status = CAST(:status AS text))
       AND (CAST(:market AS text) IS NULL OR market = CAST(:market AS text))
       AND id < CAST(:before AS bigint)
     ORDER BY id DESC LIMIT CAST(:rows AS integer)"""))
_ACTIVE_OLDEST_FIRST = round_trips.Prepared("orders_read_active_oldest", text(f"""
    SELECT {_COLUMNS} FROM orders
     WHERE user_id = CAST(:user_id AS bigint) AND status IN {ACTIVE}
       AND (CAST(:market AS text) IS NULL OR market = CAST(:market AS text))
     ORDER BY id LIMIT CAST(:rows AS integer)"""))


def one(engine: Engine, user_id: int, order_id: int) -> Any | None:
    """The user's order ``order_id``, if it is theirs."""
    found = round_trips.read(engine, _ONE, {"order_id": order_id, "user_id": user_id})
    return found[0] if found else None


def active_newest_first(engine: Engine, user_id: int, status: str | None,
                        market: str | None, before: int | None, rows: int) -> list[Any]:
    """At most ``rows`` of the user's active orders (of ``status``, one of ACTIVE, if
    given; of ``market`` if given), with ids below ``before``, newest first."""
    assert status is None or status in ACTIVE, status
    return round_trips.read(engine, _ACTIVE_NEWEST_FIRST, {
        "user_id": user_id, "status": status, "market": market,
        "before": _NO_CURSOR if before is None else before, "rows": rows})


def active_oldest_first(engine: Engine, user_id: int, market: str | None) -> list[Any]:
    """The user's active orders (of ``market`` if given), oldest first."""
    return round_trips.read(engine, _ACTIVE_OLDEST_FIRST, {
        "user_id": user_id, "market": market, "rows": ORDERS_ACTIVE_PER_READ_MAX})
