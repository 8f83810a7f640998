"""The caller's orders as bots poll them: each read prepared statements, and views kept.

A bot reads its open orders and each order's state every few seconds per market; built
and compiled by SQLAlchemy's expression language each time, and planned anew by
PostgreSQL, such a read cost more than the rest of its request. These statements are
planned once per connection (``db.round_trips.Prepared``, a generic plan): by the primary
key, by the unique index of a user's client order ids, or by the partial index of a
user's active orders (``orders_active_by_user``, which the literal ``status IN`` of the
text lets a generic plan use), and run by ``db.round_trips.read``.

Each read is two statements with one ``WHERE``: the ids and versions of the rows it
finds, then, only if a view is not kept at its version (``trading.kept_views``), the
rows. A row's version is its text, ``ROW(...)::text`` of the columns the views of both
faces show (``trading.views``, ``api.binance.shapes``): one value per row where the
columns are two dozen, each turned into a Python value (a Decimal, a datetime).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, TypeVar

from sqlalchemy import Engine, text

from db import round_trips
from db.schema import orders
from matcher.statuses import ACTIVE
from trading.kept_views import KeptViews

ORDERS_ACTIVE_PER_READ_MAX = 1_000      # above any user's open orders (MAX_NUM_ORDERS 200)
_NO_CURSOR = (1 << 63) - 1
# Not read: user_id (the caller's, asked for), fee_accrued, hold_amount, sequence, priority.
_COLUMNS = ", ".join(column.name for column in orders.c if column.name not in {
    "user_id", "fee_accrued", "hold_amount", "sequence", "priority"})
_VERSION = f"ROW({_COLUMNS})::text"
Context = TypeVar("Context")


class Read:
    """The two statements of one read: its rows' ``id, version``, and its rows (their
    ``version`` and columns), both ``FROM orders`` and then ``clauses``."""

    def __init__(self, name: str, clauses: str) -> None:
        self.versions = round_trips.Prepared(f"{name}_versions", text(
            f"SELECT id, {_VERSION} AS version FROM orders {clauses}"))
        self.rows = round_trips.Prepared(name, text(
            f"SELECT {_VERSION} AS version, {_COLUMNS} FROM orders {clauses}"))


_ONE = Read("orders_read_one", """
     WHERE id = CAST(:order_id AS bigint) AND user_id = CAST(:user_id AS bigint)
       AND (CAST(:market AS text) IS NULL OR market = CAST(:market AS text))""")
_BY_CLIENT_ID = Read("orders_read_by_client_id", """
     WHERE user_id = CAST(:user_id AS bigint) AND client_order_id = CAST(:client_id AS text)
       AND market = CAST(:market AS text)""")
_ACTIVE_NEWEST_FIRST = Read("orders_read_active_newest", f"""
     WHERE user_id = CAST(:user_id AS bigint) AND status IN {ACTIVE}
       AND (CAST(:status AS text) IS NULL OR status = CAST(:status AS text))
       AND (CAST(:market AS text) IS NULL OR market = CAST(:market AS text))
       AND id < CAST(:before AS bigint)
     ORDER BY id DESC LIMIT CAST(:rows AS integer)""")
_ACTIVE_OLDEST_FIRST = Read("orders_read_active_oldest", f"""
     WHERE user_id = CAST(:user_id AS bigint) AND status IN {ACTIVE}
       AND (CAST(:market AS text) IS NULL OR market = CAST(:market AS text))
     ORDER BY id LIMIT CAST(:rows AS integer)""")


class Query(NamedTuple):
    read: Read
    parameters: dict[str, Any]


def one(user_id: int, order_id: int, market: str | None = None) -> Query:
    """The user's order ``order_id`` (in ``market`` if given), if it is theirs."""
    return Query(_ONE, {"order_id": order_id, "user_id": user_id, "market": market})


def by_client_id(user_id: int, market: str, client_id: str) -> Query:
    """The user's order in ``market`` that they named ``client_id``."""
    return Query(_BY_CLIENT_ID, {"user_id": user_id, "market": market, "client_id": client_id})


def active_newest_first(user_id: int, status: str | None, market: str | None,
                        before: int | None, rows: int) -> Query:
    """At most ``rows`` of the user's active orders (of ``status``, one of ACTIVE, if
    given; of ``market`` if given), with ids below ``before``, newest first."""
    assert status is None or status in ACTIVE, status
    return Query(_ACTIVE_NEWEST_FIRST, {
        "user_id": user_id, "status": status, "market": market,
        "before": _NO_CURSOR if before is None else before, "rows": rows})


def active_oldest_first(user_id: int, market: str | None) -> Query:
    """The user's active orders (of ``market`` if given), oldest first."""
    return Query(_ACTIVE_OLDEST_FIRST, {
        "user_id": user_id, "market": market, "rows": ORDERS_ACTIVE_PER_READ_MAX})


def versions(engine: Engine, query: Query) -> list[Any]:
    """The ``id, version`` of each row that ``query`` finds."""
    return round_trips.read(engine, query.read.versions, query.parameters)


def shown(engine: Engine, query: Query, kept: KeptViews[Context],
          context_of: Callable[[Any], Context], found: list[Any] | None = None
          ) -> list[dict[str, Any]]:
    """The views of what ``query`` finds (its ``versions``, if already ``found``): all
    kept, or those of the rows read again (then as they are at that moment)."""
    if found is None:
        found = versions(engine, query)
    return kept.of(found, lambda: round_trips.read(engine, query.read.rows, query.parameters),
                   context_of)
