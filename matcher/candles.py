"""Candles (OHLCV) from trades, per interval, kept up to date batch by batch.

Besides the volume, a candle keeps the part of it whose taker bought (Binance's "taker
buy" volumes), in base and in quote. Every sum is exact: ``MONEY`` traps a rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import reduce
from typing import Any

from money import MONEY

INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1), "5m": timedelta(minutes=5), "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1),
}
# The sums a candle keeps: each batch adds its own to them (the matcher's upsert).
VOLUMES = ("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def bucket(moment: datetime, interval: str) -> datetime:
    """The start of the interval that holds ``moment`` (aligned to the Unix epoch, UTC)."""
    width = INTERVALS[interval]
    return _EPOCH + ((moment - _EPOCH) // width) * width


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return reduce(MONEY.add, amounts, Decimal(0))


def _volumes(trades: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    """The base volume and the exact quote volume (the sum of price x quantity)."""
    return (_total(t["quantity"] for t in trades),
            _total(MONEY.multiply(t["price"], t["quantity"]) for t in trades))


def from_trades(market: str, trades: list[dict[str, Any]], moment: datetime
                ) -> list[dict[str, Any]]:
    """One row per interval for trades that happened at ``moment``, in trade order."""
    if not trades:
        return []
    prices = [t["price"] for t in trades]
    volume, quote_volume = _volumes(trades)
    taker_buy_volume, taker_buy_quote_volume = _volumes(
        [t for t in trades if t["taker_side"] == "buy"])
    return [{"market": market, "interval": interval, "start": bucket(moment, interval),
             "open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1],
             "volume": volume, "quote_volume": quote_volume,
             "taker_buy_volume": taker_buy_volume,
             "taker_buy_quote_volume": taker_buy_quote_volume, "trades": len(trades)}
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
                           "close": row.close, **{name: getattr(row, name) for name in VOLUMES},
                           "trades": row.trades})
            close = row.close
        elif close is not None:
            result.append({"start": moment, "open": close, "high": close, "low": close,
                           "close": close, **{name: Decimal(0) for name in VOLUMES},
                           "trades": 0})
        moment += width
    return result
