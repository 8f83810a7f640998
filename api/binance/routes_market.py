"""Public market data in Binance's shapes, read through the native market-data queries."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from api.binance.errors import BinanceError
from api.binance.exchange_info import exchange_info
from api.binance.routing import BinanceRoutes, Request
from api.binance.services import BinanceServices
from api.binance.shapes import aggregate_trade, moment, ms, public_trade
from api.binance.symbols import Listed, binance_symbol
from api.binance.windows import window
from api import json_answers
from api.errors import ApiError
from api.market_cache import EVERY_MARKET, MarketDataCache, cached
from api.routes_market_data import book_levels, candles_between, day_stats
from db.schema import candles, market_state, trades
from ledger import format_amount
from matcher.candles import INTERVALS, bucket

DEPTH_DEFAULT, DEPTH_MAX = 100, 5000
TRADES_DEFAULT, TRADES_MAX = 500, 1000
KLINES_DEFAULT, KLINES_MAX = 500, 1000
AVERAGE_MINUTES = 5
SYMBOL = {"type": "string", "maxLength": 20, "examples": ["BTCUSDT"]}
LIMIT = {"type": "string", "pattern": "^[0-9]{1,5}$"}
MILLISECONDS = {"type": "string", "pattern": "^[0-9]{1,16}$"}
ANY = {"type": ["object", "array"]}

routes = BinanceRoutes()
# The public answers this process keeps (``api.market_cache``: until their market
# changes, at most 0.5 s), by Binance's spelling of their symbol.
ANSWERS = MarketDataCache(refusals=(ApiError, BinanceError))


def kept(*names: str) -> Any:
    """Kept answers of a route whose answer depends on the parameters ``names``."""
    return cached(ANSWERS, lambda request: tuple(request.params.values.get(name)
                                                 for name in names),
                  json_answers.encoded,
                  lambda request: (request.params.values.get("symbol") or "").upper() or
                  EVERY_MARKET)


def forget(market: str) -> None:
    """``market``'s batch was announced: its kept answers are dropped."""
    ANSWERS.forget(binance_symbol(market))


@routes.route("GET", "/api/v3/ping", security="public", summary="Binance: ping", answer=ANY)
def ping(services: BinanceServices, request: Request) -> dict:
    return {}


@routes.route("GET", "/api/v3/time", security="public", summary="Binance: the server's time",
              answer=ANY)
def server_time(services: BinanceServices, request: Request) -> dict:
    return {"serverTime": int(time.time() * 1000)}


@routes.route("GET", "/api/v3/exchangeInfo", security="public", answer=ANY,
              summary="Binance: symbols, their filters and order types, the rate limits",
              params={"symbol": SYMBOL, "symbols": {"type": "string"}})
def info(services: BinanceServices, request: Request) -> dict:
    return exchange_info(services, _chosen(services, request))


@routes.route("GET", "/api/v3/depth", security="public", answer=ANY,
              summary="Binance: the book, with lastUpdateId the book's sequence",
              params={"symbol": SYMBOL, "limit": LIMIT})
@kept("symbol", "limit")
def depth(services: BinanceServices, request: Request) -> dict:
    listed = services.symbols.get(request.params.text("symbol"))
    limit = request.params.limit(DEPTH_DEFAULT, DEPTH_MAX)
    sequence, sides = book_levels(services.native.engine, listed.market.symbol, limit)
    return {"lastUpdateId": sequence, **{
        name: [[format_amount(p, listed.quote_scale), format_amount(q, listed.base_scale)]
               for p, q in sides[side]] for name, side in (("bids", "buy"), ("asks", "sell"))},
        "T": int(time.time() * 1000)}


def _trades(services: BinanceServices, listed: Listed, limit: int, from_id: int | None,
            start: int | None = None, end: int | None = None) -> list[Any]:
    """Oldest first: from ``from_id``, or in [start, end], or else the most recent."""
    return window(services.native.engine,
                  select(trades).where(trades.c.market == listed.market.symbol), trades, limit,
                  from_id=from_id, start=start, end=end)


@routes.route("GET", "/api/v3/trades", security="public", answer=ANY,
              summary="Binance: recent trades, oldest first",
              params={"symbol": SYMBOL, "limit": LIMIT})
def recent_trades(services: BinanceServices, request: Request) -> list:
    listed = services.symbols.get(request.params.text("symbol"))
    limit = request.params.limit(TRADES_DEFAULT, TRADES_MAX)
    return [public_trade(row, listed) for row in _trades(services, listed, limit, None)]


@routes.route("GET", "/api/v3/historicalTrades", security="public", answer=ANY,
              summary="Binance: trades from an id, oldest first",
              params={"symbol": SYMBOL, "limit": LIMIT, "fromId": MILLISECONDS})
def historical_trades(services: BinanceServices, request: Request) -> list:
    listed = services.symbols.get(request.params.text("symbol"))
    limit = request.params.limit(TRADES_DEFAULT, TRADES_MAX)
    return [public_trade(row, listed) for row in _trades(
        services, listed, limit, request.params.integer("fromId", low=0))]


@routes.route("GET", "/api/v3/aggTrades", security="public", answer=ANY,
              summary="Binance: trades (each its own aggregate), oldest first",
              params={"symbol": SYMBOL, "limit": LIMIT, "fromId": MILLISECONDS,
                      "startTime": MILLISECONDS, "endTime": MILLISECONDS})
def aggregate_trades(services: BinanceServices, request: Request) -> list:
    params = request.params
    listed = services.symbols.get(params.text("symbol"))
    limit = params.limit(TRADES_DEFAULT, TRADES_MAX)
    return [aggregate_trade(row, listed) for row in _trades(
        services, listed, limit, params.integer("fromId", low=0),
        params.integer("startTime", low=0), params.integer("endTime", low=0))]


@routes.route("GET", "/api/v3/klines", security="public", answer=ANY,
              summary="Binance: candles, oldest first, the current one last",
              params={"symbol": SYMBOL, "interval": {"type": "string"}, "limit": LIMIT,
                      "startTime": MILLISECONDS, "endTime": MILLISECONDS})
@kept("symbol", "interval", "limit", "startTime", "endTime")
def klines(services: BinanceServices, request: Request) -> list:
    params = request.params
    listed = services.symbols.get(params.text("symbol"))
    interval = params.choice("interval", tuple(INTERVALS), -1120, "Invalid interval.")
    if interval is None:
        raise BinanceError(400, -1102, "Mandatory parameter 'interval' was not sent, was "
                           "empty/null, or malformed.")
    limit = params.limit(KLINES_DEFAULT, KLINES_MAX)
    width, market = INTERVALS[interval], listed.market.symbol
    latest_end = bucket(datetime.now(timezone.utc), interval) + width
    start_ms, end_ms = params.integer("startTime", low=0), params.integer("endTime", low=0)
    with services.native.engine.connect() as conn:
        first = conn.execute(select(candles.c.start).where(
            candles.c.market == market, candles.c.interval == interval)
            .order_by(candles.c.start).limit(1)).scalar()
        end = latest_end if end_ms is None else min(
            latest_end, bucket(moment(end_ms), interval) + width)
        if start_ms is not None:
            start = max(bucket(moment(start_ms), interval), first or latest_end)
            end = min(end, start + width * limit)
        else:
            start = end - width * limit
        found = candles_between(conn, market, interval, start, end)
    return [kline(c, width, listed) for c in found]


def kline(candle: dict[str, Any], width: timedelta, listed: Listed) -> list:
    """A candle as a row of GET /klines (and the stream's kline, api.binance.streams_frames)."""
    base, quote = listed.base_scale, listed.quote_scale
    opened = ms(candle["start"])
    # The last column is Binance's "ignore" field.
    return [opened, *(format_amount(candle[k], quote) for k in ("open", "high", "low", "close")),
            format_amount(candle["volume"], base), opened + int(width.total_seconds() * 1000) - 1,
            format_amount(candle["quote_volume"], quote + base), candle["trades"],
            format_amount(candle["taker_buy_volume"], base),
            format_amount(candle["taker_buy_quote_volume"], quote + base), "0"]


def _chosen(services: BinanceServices, request: Request) -> list[Listed]:
    """The markets a ``symbol`` or ``symbols`` parameter names, else all of them."""
    symbol, symbols = request.params.text("symbol"), request.params.names("symbols")
    if symbol is not None:
        return [services.symbols.get(symbol)]
    if symbols is not None:
        return [services.symbols.get(s) for s in symbols]
    return services.symbols.all()


def _one_or_list(request: Request, items: list[dict]) -> dict | list:
    return items[0] if "symbol" in request.params else items


@routes.route("GET", "/api/v3/ticker/24hr", security="public", answer=ANY,
              summary="Binance: 24-hour statistics",
              params={"symbol": SYMBOL, "symbols": {"type": "string"}})
@kept("symbol", "symbols", "type")
def ticker_24hr(services: BinanceServices, request: Request) -> dict | list:
    now = datetime.now(timezone.utc)
    chosen = _chosen(services, request)
    with services.native.engine.connect() as conn:
        items = [day_ticker(services, conn, listed, now) for listed in chosen]
    return _one_or_list(request, items)


def day_ticker(services: BinanceServices, conn: Any, listed: Listed, now: datetime) -> dict:
    """GET /ticker/24hr's answer for one market (and the stream's tickers)."""
    market, quote, base = listed.market.symbol, listed.quote_scale, listed.base_scale
    day = day_stats(conn, market, now)
    last = conn.execute(select(trades.c.id, trades.c.quantity).where(
        trades.c.market == market).order_by(trades.c.id.desc()).limit(1)).first()
    first_id = conn.execute(select(trades.c.id).where(
        trades.c.market == market, trades.c.created_at >= day.since)
        .order_by(trades.c.id).limit(1)).scalar()
    _, sides = book_levels(services.native.engine, market, 1)
    zero = Decimal(0)
    opening = day.open if day.open is not None else (day.last or zero)
    last_price = day.last or zero
    change = last_price - opening

    def price(value: Decimal | None) -> str:
        return format_amount(value if value is not None else zero, quote)

    bid = sides["buy"][0] if sides["buy"] else (zero, zero)
    ask = sides["sell"][0] if sides["sell"] else (zero, zero)
    return {
        "symbol": listed.symbol, "priceChange": price(change),
        "priceChangePercent": f"{(change * 100 / opening).quantize(Decimal('0.001')):f}"
        if opening else "0.000",
        "weightedAvgPrice": f"{(day.quote_volume / day.volume):.{quote}f}"
        if day.volume else price(last_price),
        "prevClosePrice": price(opening), "lastPrice": price(last_price),
        "lastQty": format_amount(last.quantity if last else zero, base),
        "bidPrice": price(bid[0]), "bidQty": format_amount(bid[1], base),
        "askPrice": price(ask[0]), "askQty": format_amount(ask[1], base),
        "openPrice": price(opening), "highPrice": price(day.high if day.high else last_price),
        "lowPrice": price(day.low if day.low else last_price),
        "volume": format_amount(day.volume, base),
        "quoteVolume": format_amount(day.quote_volume, quote + base),
        "openTime": ms(day.since), "closeTime": ms(now),
        "firstId": first_id if first_id is not None and day.trades else -1,
        "lastId": last.id if last is not None and day.trades else -1, "count": day.trades}


@routes.route("GET", "/api/v3/ticker/price", security="public", answer=ANY,
              summary="Binance: the last price",
              params={"symbol": SYMBOL, "symbols": {"type": "string"}})
def ticker_price(services: BinanceServices, request: Request) -> dict | list:
    chosen = _chosen(services, request)
    with services.native.engine.connect() as conn:
        last = dict(conn.execute(select(market_state.c.market, market_state.c.last_price)).all())
    return _one_or_list(request, [{"symbol": listed.symbol, "price": format_amount(
        last.get(listed.market.symbol) or Decimal(0), listed.quote_scale)} for listed in chosen])


@routes.route("GET", "/api/v3/ticker/bookTicker", security="public", answer=ANY,
              summary="Binance: the best bid and ask",
              params={"symbol": SYMBOL, "symbols": {"type": "string"}})
def book_ticker(services: BinanceServices, request: Request) -> dict | list:
    items = []
    for listed in _chosen(services, request):
        _, sides = book_levels(services.native.engine, listed.market.symbol, 1)
        zero = (Decimal(0), Decimal(0))
        (bid, bid_qty), (ask, ask_qty) = (sides["buy"] or [zero])[0], (sides["sell"] or [zero])[0]
        items.append({"symbol": listed.symbol,
                      "bidPrice": format_amount(bid, listed.quote_scale),
                      "bidQty": format_amount(bid_qty, listed.base_scale),
                      "askPrice": format_amount(ask, listed.quote_scale),
                      "askQty": format_amount(ask_qty, listed.base_scale)})
    return _one_or_list(request, items)


@routes.route("GET", "/api/v3/avgPrice", security="public", answer=ANY,
              summary="Binance: the volume-weighted price of the last 5 minutes",
              params={"symbol": SYMBOL})
def average_price(services: BinanceServices, request: Request) -> dict:
    listed = services.symbols.get(request.params.text("symbol"))
    now = datetime.now(timezone.utc)
    since = now - timedelta(minutes=AVERAGE_MINUTES)
    with services.native.engine.connect() as conn:
        rows = conn.execute(select(candles.c.volume, candles.c.quote_volume).where(
            candles.c.market == listed.market.symbol, candles.c.interval == "1m",
            candles.c.start > bucket(since, "1m"))).all()
        last = conn.execute(select(market_state.c.last_price).where(
            market_state.c.market == listed.market.symbol)).scalar() or Decimal(0)
    volume = sum((r.volume for r in rows), Decimal(0))
    quote_volume = sum((r.quote_volume for r in rows), Decimal(0))
    price = f"{quote_volume / volume:.{listed.quote_scale}f}" if volume else \
        format_amount(last, listed.quote_scale)
    return {"mins": AVERAGE_MINUTES, "price": price, "closeTime": ms(now)}
