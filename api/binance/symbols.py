"""Binance symbols for our markets: ``BTCUSDT`` is ``BTC-USDT``, with the market's rules and
its currencies' scales, read from the database at most every few seconds per process."""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

from sqlalchemy import Engine, select

from api.binance.errors import BAD_SYMBOL, BinanceError
from db.schema import currencies
from matcher.markets import Market
from trading.markets import load_markets

REFRESH_SECONDS = 2.0     # a new market, or one halted or resumed, shows within this


class Listed(NamedTuple):
    market: Market
    base_scale: int
    quote_scale: int

    @property
    def symbol(self) -> str:
        return binance_symbol(self.market.symbol)

    @property
    def scales(self) -> dict[str, int]:
        return {self.market.base: self.base_scale, self.market.quote: self.quote_scale}


def binance_symbol(market: str) -> str:
    return market.replace("-", "")


class Symbols:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._by_symbol: dict[str, Listed] = {}
        self._until = 0.0
        self._lock = threading.Lock()

    def all(self) -> list[Listed]:
        return list(self._fresh().values())

    def _fresh(self, again: bool = False) -> dict[str, Listed]:
        """The listings, read if older than REFRESH_SECONDS (or read ``again`` now)."""
        with self._lock:
            if again or time.monotonic() >= self._until:
                with self.engine.connect() as conn:
                    scales = dict(conn.execute(select(currencies.c.code, currencies.c.scale)).all())
                    found = load_markets(conn)
                self._by_symbol = {binance_symbol(m.symbol): Listed(m, scales[m.base],
                                                                    scales[m.quote])
                                   for m in found}
                self._until = time.monotonic() + REFRESH_SECONDS
            return self._by_symbol

    def get(self, symbol: str | None) -> Listed:
        """The market of a Binance symbol, or -1121 (a symbol is required)."""
        if not symbol:
            raise BinanceError(400, -1102, "Mandatory parameter 'symbol' was not sent, was "
                               "empty/null, or malformed.")
        found = self._fresh().get(symbol.upper())
        if found is None:
            raise BinanceError(400, -1121, BAD_SYMBOL)
        return found

    def of_market(self, market: str) -> Listed:
        """The listing of a market that one of our rows names: one listed since the last
        read (an order placed in it within REFRESH_SECONDS) is read again, not refused."""
        symbol = binance_symbol(market)
        found = self._fresh().get(symbol) or self._fresh(again=True).get(symbol)
        if found is None:
            raise BinanceError(400, -1121, BAD_SYMBOL)
        return found
