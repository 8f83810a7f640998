"""The streams' frames in Binance's shapes, pure: from what the face already reads (its
REST answers' rows) and the book messages, to the JSON objects Binance sends.

Amounts are decimal strings at their currency's scale, as on REST; the book's update ids
are the book's sequence, the one REST ``depth`` answers as ``lastUpdateId``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from api.binance.shapes import aggregate_trade
from api.binance.symbols import Listed
from ledger import format_amount

Level = tuple[str, str]     # the feed's plain price and quantity


def levels(listed: Listed, found: Iterable[Level]) -> list[list[str]]:
    return [[format_amount(Decimal(p), listed.quote_scale),
             format_amount(Decimal(q), listed.base_scale)] for p, q in found]


def depth_update(listed: Listed, first_id: int, last_id: int, bids: dict[str, str],
                 asks: dict[str, str], event_ms: int) -> dict[str, Any]:
    """The book's changes from update ``first_id`` to ``last_id`` (each level's last
    quantity, "0" when it went)."""
    return {"e": "depthUpdate", "E": event_ms, "s": listed.symbol, "U": first_id,
            "u": last_id, "b": levels(listed, bids.items()), "a": levels(listed, asks.items())}


def partial_book(listed: Listed, snapshot: dict[str, Any], depth: int) -> dict[str, Any]:
    """The top ``depth`` levels of a book snapshot (``api.ws_books``)."""
    return {"lastUpdateId": snapshot["sequence"],
            "bids": levels(listed, snapshot["bids"][:depth]),
            "asks": levels(listed, snapshot["asks"][:depth])}


def book_ticker(listed: Listed, snapshot: dict[str, Any]) -> dict[str, Any]:
    zero = ("0", "0")
    (bid, bid_quantity), = levels(listed, snapshot["bids"][:1] or [zero])
    (ask, ask_quantity), = levels(listed, snapshot["asks"][:1] or [zero])
    return {"u": snapshot["sequence"], "s": listed.symbol, "b": bid, "B": bid_quantity,
            "a": ask, "A": ask_quantity}


def trade(listed: Listed, row: Any, event_ms: int) -> dict[str, Any]:
    aggregate = aggregate_trade(row, listed)
    return {"e": "trade", "E": event_ms, "s": listed.symbol, "t": aggregate["a"],
            "p": aggregate["p"], "q": aggregate["q"], "T": aggregate["T"],
            "m": aggregate["m"], "M": True}


def agg_trade(listed: Listed, row: Any, event_ms: int) -> dict[str, Any]:
    return {"e": "aggTrade", "E": event_ms, "s": listed.symbol,
            **aggregate_trade(row, listed)}


def kline(listed: Listed, interval: str, row: list, closed: bool,
          event_ms: int) -> dict[str, Any]:
    """A row of GET /klines as the stream's candle; the first and last trade ids are not
    kept with candles here: -1, as Binance sends for a candle without trades."""
    opened, open_, high, low, close, volume, closes, quote_volume, count, \
        taker_volume, taker_quote_volume, _ = row
    return {"e": "kline", "E": event_ms, "s": listed.symbol, "k": {
        "t": opened, "T": closes, "s": listed.symbol, "i": interval, "f": -1, "L": -1,
        "o": open_, "c": close, "h": high, "l": low, "v": volume, "n": count, "x": closed,
        "q": quote_volume, "V": taker_volume, "Q": taker_quote_volume, "B": "0"}}


def ticker(day: dict[str, Any], event_ms: int) -> dict[str, Any]:
    """GET /ticker/24hr's answer for one market, as the stream's 24hrTicker."""
    return {"e": "24hrTicker", "E": event_ms, "s": day["symbol"], "p": day["priceChange"],
            "P": day["priceChangePercent"], "w": day["weightedAvgPrice"],
            "x": day["prevClosePrice"], "c": day["lastPrice"], "Q": day["lastQty"],
            "b": day["bidPrice"], "B": day["bidQty"], "a": day["askPrice"],
            "A": day["askQty"], "o": day["openPrice"], "h": day["highPrice"],
            "l": day["lowPrice"], "v": day["volume"], "q": day["quoteVolume"],
            "O": day["openTime"], "C": day["closeTime"], "F": day["firstId"],
            "L": day["lastId"], "n": day["count"]}


def mini_ticker(day: dict[str, Any], event_ms: int) -> dict[str, Any]:
    return {"e": "24hrMiniTicker", "E": event_ms, "s": day["symbol"], "c": day["lastPrice"],
            "o": day["openPrice"], "h": day["highPrice"], "l": day["lowPrice"],
            "v": day["volume"], "q": day["quoteVolume"]}
