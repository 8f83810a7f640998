"""Binance's stream names, read: ``<symbol>@<kind>[@<speed>]`` and the all-market arrays.

    btcusdt@depth  btcusdt@depth@100ms        diffs of the book, every 1000 / 100 ms
    btcusdt@depth5 (10, 20)[@100ms]           the top levels, every 1000 / 100 ms
    btcusdt@trade  btcusdt@aggTrade           each trade (an aggregate is one trade here)
    btcusdt@kline_1m (the face's intervals)   the current candle, every second
    btcusdt@ticker  btcusdt@miniTicker        24-hour statistics, every second
    btcusdt@bookTicker                        the best bid and ask, as they change
    !ticker@arr  !miniTicker@arr              every market's that changed, every second

Symbols are lower-case, as Binance spells them; the name is kept as the client wrote it
(a combined stream's envelope repeats it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from matcher.candles import INTERVALS

STREAM_NAME_LENGTH_MAX = 64
PARTIAL_LEVELS = (5, 10, 20)
SPEEDS_MS = {None: 1000, "1000ms": 1000, "100ms": 100}
ALL_MARKETS = {"!ticker@arr": "ticker", "!miniTicker@arr": "miniTicker"}
SIMPLE_KINDS = ("trade", "aggTrade", "ticker", "miniTicker", "bookTicker")
_NAME = re.compile(r"([a-z0-9._-]{1,20})@([A-Za-z0-9_]+)(?:@([0-9]+ms))?")


class InvalidStreamName(ValueError):
    """Raised when a stream name is not one of Binance's that the face serves."""


@dataclass(frozen=True)
class Stream:
    name: str                 # as the client wrote it
    symbol: str | None        # Binance's (upper-case) symbol; None for an all-market array
    kind: str                 # depth, partial, trade, aggTrade, kline, ticker, miniTicker, bookTicker
    levels: int = 0           # partial books
    interval: str = ""        # klines
    speed_ms: int = 0         # depth and partial books

    @property
    def key(self) -> tuple:
        """What the stream carries: two names that differ only in spelling share it."""
        return (self.kind, self.symbol, self.levels, self.interval, self.speed_ms)


def parse(name: object) -> Stream:
    if not isinstance(name, str) or not name or len(name) > STREAM_NAME_LENGTH_MAX:
        raise InvalidStreamName(f"a stream name is a string of 1 to {STREAM_NAME_LENGTH_MAX} "
                                "characters")
    if name in ALL_MARKETS:
        return Stream(name, None, ALL_MARKETS[name])
    found = _NAME.fullmatch(name)
    if found is None:
        raise InvalidStreamName(f"{name!r} is not a stream name: <symbol>@<kind> with the "
                                "symbol in lower case, e.g. btcusdt@trade")
    symbol, kind, speed = found.group(1).upper(), found.group(2), found.group(3)
    if speed is not None and speed not in SPEEDS_MS:
        raise InvalidStreamName(f"{name!r}: the update speed is 100ms or 1000ms")
    if kind == "depth":
        return Stream(name, symbol, "depth", speed_ms=SPEEDS_MS[speed])
    if kind.startswith("depth") and kind[5:].isdigit() and int(kind[5:]) in PARTIAL_LEVELS:
        return Stream(name, symbol, "partial", levels=int(kind[5:]), speed_ms=SPEEDS_MS[speed])
    if speed is None and kind.startswith("kline_"):
        if kind[6:] not in INTERVALS:
            raise InvalidStreamName(f"{name!r}: kline intervals are {', '.join(INTERVALS)}")
        return Stream(name, symbol, "kline", interval=kind[6:])
    if speed is None and kind in SIMPLE_KINDS:
        return Stream(name, symbol, kind)
    raise InvalidStreamName(
        f"{name!r}: no such stream; the kinds are depth, depth5, depth10, depth20 (each "
        "optionally @100ms), trade, aggTrade, kline_<interval>, ticker, miniTicker, "
        "bookTicker, and !ticker@arr, !miniTicker@arr")
