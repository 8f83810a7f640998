"""ccxt's binance class pointed at our host (as shared/BINANCE.md section 1.1 says), its
requests paced by the maker's budget instead of ccxt's own fixed delay, and the rules of
each market read exactly from its exchangeInfo filters."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt

from demo_maker.ladder import Rules
from demo_maker.pacing import Pacer

TIMEOUT_MS = 5000
OPTIONS = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
           "fetchCurrencies": False, "fetchMargins": False,
           "fetchOpenOrders": {"warnWithoutSymbol": False}}


class PacedBinance(ccxt.binance):  # type: ignore[misc]
    """Every request waits for the pacer: our exchange counts requests, not weights."""

    pacer: Pacer

    def throttle(self, cost: Any = None) -> None:
        self.pacer.take()


def client(api_url: str, pacer: Pacer, key: str = "", secret: str = "") -> PacedBinance:
    stock = ccxt.binance().urls["api"]
    # Every REST section to our host, so that a stray call gets our 404 instead of taking
    # a signed request to binance.com.
    urls = {name: api_url + "/" + value.split("/", 3)[3]
            for name, value in stock.items() if isinstance(value, str)}
    exchange = PacedBinance({"urls": {"api": urls}, "options": dict(OPTIONS),
                             "apiKey": key, "secret": secret, "timeout": TIMEOUT_MS,
                             "enableRateLimit": True})
    exchange.pacer = pacer
    return exchange


def rules(market: dict[str, Any]) -> Rules:
    filters = {f["filterType"]: f for f in market["info"]["filters"]}
    return Rules(symbol=market["symbol"], base=market["base"], quote=market["quote"],
                 tick=Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize(),
                 lot=Decimal(filters["LOT_SIZE"]["stepSize"]).normalize(),
                 min_notional=Decimal(filters["NOTIONAL"]["minNotional"]))


def text(value: Decimal) -> str:
    """A Decimal as ccxt should send it: plain digits, never a float nor an exponent."""
    return format(value, "f")
