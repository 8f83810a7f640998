"""The markets as the database holds them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from db.schema import markets
from matcher.markets import Market


def load_markets(conn: Connection) -> list[Market]:
    return [_market(row) for row in conn.execute(select(markets).order_by(markets.c.symbol))]


def _market(row: Any) -> Market:
    return Market(row.symbol, row.base, row.quote, row.tick_size, row.lot_size,
                  row.min_notional, row.maker_fee_bps, row.taker_fee_bps, row.status)
