"""Several statements in one round trip, and a transaction that a caller owns in two.

psycopg2 sends a query string whole: statements separated by ``;`` run in order on the
server, each with its own snapshot, and the result of the last comes back. A hot path
that can say what it will do before it learns the result of each statement saves a
round trip per statement; and one that ends its last round trip with ``COMMIT`` holds
its row locks only while the server works, never while a busy client gets round to
sending the commit. A failing statement ends the string there: the transaction is then
aborted, and ``rollback`` ends it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, TextClause
from sqlalchemy.dialects.postgresql.psycopg2 import dialect as psycopg2_dialect
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError

_DIALECT = psycopg2_dialect()


def joined(*statements: TextClause | str) -> str:
    """The statements as one driver-level string (``%(name)s`` parameters)."""
    return ";\n".join(statement if isinstance(statement, str)
                      else str(statement.compile(dialect=_DIALECT)) for statement in statements)


def last_row(conn: Connection, sql: str, parameters: dict[str, Any]) -> Row | None:
    """Run ``sql`` (from ``joined``); the first row of its last statement, if any."""
    result = conn.exec_driver_sql(sql, parameters)
    return result.first() if result.returns_rows else None


def rollback(conn: Connection) -> None:
    """End a transaction begun by ``BEGIN`` in a string, whatever state it is in."""
    try:
        conn.exec_driver_sql("ROLLBACK")
    except DBAPIError:
        pass     # the connection is gone, and its transaction with it


def merged(*parameter_sets: dict[str, Any]) -> dict[str, Any]:
    """One parameter dict for several statements; their names must not collide."""
    merged_set: dict[str, Any] = {}
    for parameters in parameter_sets:
        clash = merged_set.keys() & parameters.keys()
        assert not clash, f"parameters named twice in one round trip: {sorted(clash)}"
        merged_set.update(parameters)
    return merged_set
