"""``GET /api/v3/exchangeInfo``: each market as a Binance symbol, with its rules as
Binance's filters, and our rate limits as Binance's.

Our rules are exact multiples, so the filters say them as they are: ``tickSize`` is the
market's tick, ``stepSize`` its lot, ``minNotional`` its minimum price x quantity. We
have no maximum price or quantity of our own: the maxima are what a Binance-style decimal
(20 integer digits) can say. ``MAX_NUM_ORDERS`` is per user across all markets.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from limits import parse

from api.binance.services import BinanceServices
from api.binance.shapes import SELF_TRADE_PREVENTION
from api.binance.symbols import Listed
from ledger import format_amount
from trading.rules import ORDERS_OPEN_PER_USER_MAX

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT"]
DECIMAL_MAX = Decimal(10) ** 20
AVERAGE_PRICE_MINUTES = 5


def exchange_info(services: BinanceServices, chosen: list[Listed]) -> dict[str, Any]:
    settings = services.native.settings
    return {"timezone": "UTC", "serverTime": int(time.time() * 1000),
            "rateLimits": [_limit("REQUEST_WEIGHT", settings.rate_limit_per_ip),
                           _limit("RAW_REQUESTS", settings.rate_limit_per_user)],
            "exchangeFilters": [], "symbols": [_symbol(listed) for listed in chosen]}


def _limit(kind: str, spelled: str) -> dict[str, Any]:
    item = parse(spelled)
    return {"rateLimitType": kind, "interval": item.GRANULARITY.name.upper(),
            "intervalNum": item.multiples, "limit": item.amount}


def _symbol(listed: Listed) -> dict[str, Any]:
    market, base, quote = listed.market, listed.base_scale, listed.quote_scale

    def price(value: Decimal) -> str:
        return format_amount(value, quote)

    def quantity(value: Decimal) -> str:
        return format_amount(value, base)

    return {
        "symbol": listed.symbol, "status": "TRADING" if market.is_open else "HALT",
        "baseAsset": market.base, "baseAssetPrecision": base, "quoteAsset": market.quote,
        "quotePrecision": quote, "quoteAssetPrecision": quote,
        "baseCommissionPrecision": base, "quoteCommissionPrecision": quote,
        "orderTypes": ORDER_TYPES, "icebergAllowed": False, "ocoAllowed": False,
        "otoAllowed": False, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
        "cancelReplaceAllowed": False, "isSpotTradingAllowed": market.is_open,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": price(market.tick_size),
             "maxPrice": price(DECIMAL_MAX - market.tick_size),
             "tickSize": price(market.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": quantity(market.lot_size),
             "maxQty": quantity(DECIMAL_MAX - market.lot_size),
             "stepSize": quantity(market.lot_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": quantity(market.lot_size),
             "maxQty": quantity(DECIMAL_MAX - market.lot_size),
             "stepSize": quantity(market.lot_size)},
            {"filterType": "NOTIONAL", "minNotional": price(market.min_notional),
             "applyMinToMarket": True, "maxNotional": price(DECIMAL_MAX - market.tick_size),
             "applyMaxToMarket": False, "avgPriceMins": AVERAGE_PRICE_MINUTES},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": ORDERS_OPEN_PER_USER_MAX}],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": SELF_TRADE_PREVENTION,
        "allowedSelfTradePreventionModes": [SELF_TRADE_PREVENTION]}
