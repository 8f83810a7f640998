"""Pages of a list, newest first, with an opaque cursor (the last id of the page)."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Column, Select

from api.routing import Call


def newest_first(query: Select, id_column: Column, call: Call) -> Select:
    """One row more than the page holds tells whether another page follows."""
    query = query.order_by(id_column.desc()).limit(call.query["limit"] + 1)
    if "cursor" in call.query:
        query = query.where(id_column < int(call.query["cursor"]))
    return query


def page(rows: list[Any], call: Call, view: Callable[[Any], dict],
         cursor_of: Callable[[Any], object] = lambda row: row.id) -> dict:
    limit = call.query["limit"]
    items = [view(row) for row in rows[:limit]]
    more = len(rows) > limit
    return {"items": items, "next_cursor": str(cursor_of(rows[limit - 1])) if more else None}
