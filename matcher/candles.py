"""Candles (OHLCV) from trades, per interval, kept up to date batch by batch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from money import MONEY

INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1), "5m": timedelta(minutes=5), "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def bucket(moment: datetime, interval: str) -> datetime:
    """The start of the interval that holds ``moment`` (aligned to the Unix epoch, UTC)."""
    width = INTERVALS[interval]
    return _EPOCH + ((moment - _EPOCH) // width) * width


def from_trades(market: str, trades: list[dict[str, Any]], moment: datetime
                ) -> list[dict[str, Any]]:
    """One row per interval for trades that happened at ``moment``, in trade order."""
    if not trades:
        return []
    prices = [t["price"] for t in trades]
    volume = sum((t["quantity"] for t in trades), Decimal(0))
    quote_volume = sum((MONEY.multiply(t["price"], t["quantity"]) for t in trades), Decimal(0))
    return [{"market": market, "interval": interval, "start": bucket(moment, interval),
             "open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1],
             "volume": volume, "quote_volume": quote_volume, "trades": len(trades)}
            for interval in INTERVALS]


def filled(rows: list[Any], interval: str, start: datetime, end: datetime,
           previous_close: Decimal | None) -> list[dict[str, Any]]:
    """Every interval from ``start`` to ``end`` (exclusive): an interval without trades
    is flat at the previous close with zero volume (none before the first trade)."""
    width = INTERVALS[interval]
    by_start = {row.start: row for row in rows}
    result, close = [], previous_close
    moment = bucket(start, interval)
    while moment < end:
        row = by_start.get(moment)
        if row is not None:
            result.append({"start": moment, "open": row.open, "high": row.high, "low": row.low,
                           "close": row.close, "volume": row.volume,
                           "quote_volume": row.quote_volume, "trades": row.trades})
            close = row.close
        elif close is not None:
            result.append({"start": moment, "open": close, "high": close, "low": close,
                           "close": close, "volume": Decimal(0), "quote_volume": Decimal(0),
                           "trades": 0})
        moment += width
    return result
