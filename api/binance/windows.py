"""Binance's list windows, one rule for trades, orders and fills: from an id, or from a
time (and up to one), oldest first; with neither, the most recent ``limit``. Rows come
back oldest first either way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Engine, Select, Table

from api.binance.shapes import moment


def window(engine: Engine, query: Select, table: Table, limit: int, *, from_id: int | None,
           start: int | None, end: int | None, id_column: Column | None = None) -> list[Any]:
    """``id_column`` (the table's ``id`` unless named) is what ``from_id`` counts."""
    if from_id is not None:
        query = query.where((id_column if id_column is not None else table.c.id) >= from_id)
    if start is not None:
        query = query.where(table.c.created_at >= moment(start))
    if end is not None:
        query = query.where(table.c.created_at <= moment(end))
    oldest_first = from_id is not None or start is not None
    query = query.order_by(table.c.id if oldest_first else table.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return rows if oldest_first else rows[::-1]
