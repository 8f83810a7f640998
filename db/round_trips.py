"""Several statements in one round trip, and a transaction that a caller owns in two.

psycopg2 sends a query string whole: statements separated by ``;`` run in order on the
server, each with its own snapshot, and the result of the last comes back. A hot path
that can say what it will do before it learns the result of each statement saves a
round trip per statement; and one that ends its last round trip with ``COMMIT`` holds
its row locks only while the server works, never while a busy client gets round to
sending the commit. A failing statement ends the string there: the transaction is then
aborted, and ``rollback`` ends it.

The hot statements are ``Prepared``: each connection parses and plans them once, and then
runs them by name. Parsing and planning their text anew was a quarter of PostgreSQL's
CPU per order.
"""

from __future__ import annotations

import re
from collections import namedtuple
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, TextClause
from sqlalchemy.dialects.postgresql.psycopg2 import dialect as psycopg2_dialect
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

_DIALECT = psycopg2_dialect()
_PARAMETER = re.compile(r"%\((\w+)\)s")
_CAST = re.compile(r"CAST\(%\((\w+)\)s AS ([\w\[\] ]+?)\)")
_PREPARED: dict[str, Prepared] = {}
_PREPARED_KEY = "round_trips.prepared"     # in the pool's per-connection info


def _driver_sql(statement: TextClause | str) -> str:
    return statement if isinstance(statement, str) else str(statement.compile(dialect=_DIALECT))


class Prepared:
    """A statement that each connection prepares once (``PREPARE``, parsed and planned
    with a generic plan) and then runs by name (``EXECUTE``) in ``joined`` strings.

    Its parameters' types are declared: those written ``CAST(:name AS type)`` in the
    text are read from it, the others are given as ``types``. Each argument is cast to
    its type where it is sent, as the text did (an array of NULLs would have none).
    """

    def __init__(self, name: str, statement: TextClause, **types: str) -> None:
        sql = _driver_sql(statement)
        names = list(dict.fromkeys(_PARAMETER.findall(sql)))
        declared = dict(types)
        for parameter, cast in _CAST.findall(sql):
            assert declared.setdefault(parameter, cast) == cast, f"{parameter}: two types"
        assert set(names) == declared.keys(), f"{name}: types of {set(names) ^ declared.keys()}"
        body = _PARAMETER.sub(lambda found: f"${names.index(found.group(1)) + 1}", sql)
        assert "%" not in body and name not in _PREPARED
        self.prepare = f"PREPARE {name} ({', '.join(declared[n] for n in names)}) AS {body}"
        self.execute = f"EXECUTE {name} (" + ", ".join(
            f"CAST(%({n})s AS {declared[n]})" for n in names) + ")"
        self._record: Any = None
        _PREPARED[name] = self

    def record(self, description: Any) -> Any:
        """The named tuple of its rows (their columns are its text's), made once: the
        driver's ``NamedTupleCursor`` read every column's name again for each read, a
        third of its cost."""
        if self._record is None:
            self._record = namedtuple("Row", [column.name for column in description])
        return self._record


def joined(*statements: Prepared | TextClause | str) -> str:
    """The statements as one driver-level string (``%(name)s`` parameters)."""
    return ";\n".join(statement.execute if isinstance(statement, Prepared)
                      else _driver_sql(statement) for statement in statements)


def _array_literal(value: Any) -> Any:
    """A list of integers, Decimals or strings as one array literal, ``'{1,2.5,NULL,"a"}'``,
    exact (``str`` of a number is PostgreSQL's input syntax; a string is quoted, its
    backslashes and quotes escaped); anything else as it is. psycopg2 adapts each element
    of a list alone, about a microsecond apiece: a fifth of the matcher's CPU per order."""
    if type(value) is not list or not value or not all(
            type(item) in _ELEMENT_TYPES for item in value):
        return value
    return "{" + ",".join(
        "NULL" if item is None else
        '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' if type(item) is str else
        str(item) for item in value) + "}"


_ELEMENT_TYPES = (int, Decimal, str, type(None))     # not bool: str(True) is no number


def execute(conn: Connection, sql: str, parameters: dict[str, Any]) -> CursorResult:
    """Run ``sql`` (from ``joined``) once the connection has every ``Prepared``; lists go
    as array literals where they can (the ``Prepared`` cast each argument to its type)."""
    prepared = conn.connection.info.setdefault(_PREPARED_KEY, set())
    if len(prepared) < len(_PREPARED):
        # In a round trip of their own, after forgetting any: so that one that failed
        # half way is simply done again.
        _prepare(conn, ";\n".join(
            ["DEALLOCATE ALL", *(statement.prepare for statement in _PREPARED.values())]))
        prepared.update(_PREPARED)
    return conn.exec_driver_sql(sql, {name: _array_literal(value)
                                      for name, value in parameters.items()})


def read(engine: Engine, statement: Prepared, parameters: dict[str, Any]) -> list[Any]:
    """The rows of ``statement`` (named tuples), run in one round trip on a connection of
    ``engine``'s pool (in autocommit mode: the rows as committed when it began), without
    SQLAlchemy's execution machinery: for the reads bots poll, its connection, execution
    context and result cost about 100 us of CPU per read here, the driver's own 56 us.
    Errors are SQLAlchemy's (``DBAPIError``, a lost connection taken out of the pool), as
    for any other statement, connecting included."""
    driver_error = engine.dialect.loaded_dbapi.Error
    try:
        pooled = engine.raw_connection()
    except driver_error as error:     # the pool raises the driver's own: the server is away
        raise DBAPIError.instance(None, None, error, driver_error, connection_invalidated=True,
                                  dialect=engine.dialect) from error
    raw = pooled.dbapi_connection
    try:
        with raw.cursor() as cursor:
            prepared = pooled.info.setdefault(_PREPARED_KEY, set())
            if len(prepared) < len(_PREPARED):
                cursor.execute(";\n".join(["DEALLOCATE ALL", *(
                    each.prepare for each in _PREPARED.values())]))
                prepared.update(_PREPARED)
            cursor.execute(statement.execute, {name: _array_literal(value)
                                               for name, value in parameters.items()})
            rows = cursor.fetchall()
            return list(map(statement.record(cursor.description)._make, rows))
    except driver_error as error:
        lost = engine.dialect.is_disconnect(error, raw, None)
        if lost:
            pooled.invalidate(error)
        raise DBAPIError.instance(statement.execute, parameters, error, driver_error,
                                  connection_invalidated=lost,
                                  dialect=engine.dialect) from error
    finally:
        pooled.close()


def _prepare(conn: Connection, statements: str) -> None:
    """Run ``statements`` on the driver's own cursor (no parameters to interpolate), its
    errors raised as SQLAlchemy's like every other statement's, and a lost connection
    taken out of the pool."""
    raw = conn.connection.dbapi_connection
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        raw.cursor().execute(statements)
    except driver_error as error:
        lost = conn.dialect.is_disconnect(error, raw, None)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(statements, None, error, driver_error,
                                  connection_invalidated=lost, dialect=conn.dialect) from error


def last_row(conn: Connection, sql: str, parameters: dict[str, Any]) -> Row | None:
    """Run ``sql`` (from ``joined``); the first row of its last statement, if any."""
    result = execute(conn, sql, parameters)
    return result.first() if result.returns_rows else None


def rollback(conn: Connection) -> None:
    """End a transaction begun by ``BEGIN`` in a string, whatever state it is in. Never
    raises: it runs while an error is on its way up, which it must not replace."""
    try:
        if conn.invalidated:
            # The connection broke (SQLAlchemy saw it) and the server's transaction ended
            # with it; only SQLAlchemy's own state is left to clear, or it refuses the next
            # use of the connection (PendingRollbackError) in place of the error itself.
            conn.rollback()
        else:
            conn.exec_driver_sql("ROLLBACK")
    except SQLAlchemyError:
        pass     # the connection is gone, and its transaction with it


def merged(*parameter_sets: dict[str, Any]) -> dict[str, Any]:
    """One parameter dict for several statements; their names must not collide."""
    merged_set: dict[str, Any] = {}
    for parameters in parameter_sets:
        clash = merged_set.keys() & parameters.keys()
        assert not clash, f"parameters named twice in one round trip: {sorted(clash)}"
        merged_set.update(parameters)
    return merged_set
