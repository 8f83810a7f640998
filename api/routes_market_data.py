"""Public market data: the aggregated book, trades, candles and 24-hour tickers.

Everything is read from what the matcher committed, so any ``web`` process serves
the same answer: the book from the resting orders (with the book's sequence as the
matcher last committed it), candles from the table the matcher keeps per batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Connection, Engine, select, text

from api import json_answers
from api.errors import ApiError
from api.market_cache import MarketDataCache, cached
from api.pagination import newest_first, page
from api.routing import Call, Routes
from api.services import Services
from api.schemas import AMOUNT, CURSOR, LIMIT, TIMESTAMP, obj, page_of
from db.schema import candles, market_state, markets, trades
from ledger import format_amount
from ledger.scales import scales
from matcher.candles import INTERVALS, bucket, filled
from matcher.statuses import ON_BOOK

DEPTH = {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
CANDLES_MAX = 1000
LEVEL = {"type": "array", "items": AMOUNT, "minItems": 2, "maxItems": 2}  # [price, quantity]
BOOK = obj(market={"type": "string"}, sequence={"type": "integer"},
           bids={"type": "array", "items": LEVEL}, asks={"type": "array", "items": LEVEL})
TRADE = obj(id={"type": "string"}, price=AMOUNT, quantity=AMOUNT,
            taker_side={"enum": ["buy", "sell"]}, created_at=TIMESTAMP)
# The taker-buy volumes are the part of the volumes where the taker bought (Binance's).
CANDLE = obj(start=TIMESTAMP, open=AMOUNT, high=AMOUNT, low=AMOUNT, close=AMOUNT,
             volume=AMOUNT, quote_volume=AMOUNT, taker_buy_volume=AMOUNT,
             taker_buy_quote_volume=AMOUNT, trades={"type": "integer"})
NULLABLE = {"type": ["string", "null"]}
TICKER = obj(market={"type": "string"}, open=NULLABLE, high=NULLABLE, low=NULLABLE,
             last=NULLABLE, volume=AMOUNT, quote_volume=AMOUNT, change=NULLABLE,
             change_percent=NULLABLE, trades={"type": "integer"})
BOOK_LEVELS = text(f"""
    SELECT price, sum(quantity - filled_quantity) AS quantity FROM orders
     WHERE market = :m AND side = :side AND status IN {ON_BOOK}
     GROUP BY price ORDER BY price * :direction LIMIT :depth""")


def check_market(engine: Engine, symbol: str) -> None:
    with engine.connect() as conn:
        _scales(conn, symbol)


def _scales(conn: Connection, symbol: str) -> tuple[int, int]:
    row = conn.execute(select(markets.c.base, markets.c.quote).where(
        markets.c.symbol == symbol)).first()
    if row is None:
        raise ApiError(404, "unknown_market", f"no market {symbol!r}; see GET /v1/markets",
                       "market")
    known = scales(conn, (row.base, row.quote))
    return known[row.base], known[row.quote]


class DayStats(NamedTuple):
    """A market's last 24 hours, from its 1-minute candles (``open`` is None without
    trades), and its last price."""

    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    last: Decimal | None
    volume: Decimal
    quote_volume: Decimal
    trades: int
    since: datetime


def day_stats(conn: Connection, symbol: str, now: datetime) -> DayStats:
    since = bucket(now - timedelta(hours=24), "1m")
    rows = conn.execute(select(candles).where(
        candles.c.market == symbol, candles.c.interval == "1m", candles.c.start > since)
        .order_by(candles.c.start)).all()
    last = conn.execute(select(market_state.c.last_price).where(
        market_state.c.market == symbol)).scalar()
    return DayStats(rows[0].open if rows else None, max((r.high for r in rows), default=None),
                    min((r.low for r in rows), default=None), last,
                    sum((r.volume for r in rows), Decimal(0)),
                    sum((r.quote_volume for r in rows), Decimal(0)),
                    sum(r.trades for r in rows), since + timedelta(minutes=1))


def ticker(conn: Connection, symbol: str, now: datetime) -> dict:
    """24 hours of 1-minute candles: open, high, low, volume; the last price; the change."""
    base_scale, quote_scale = _scales(conn, symbol)
    day = day_stats(conn, symbol, now)

    def price(value: Decimal | None) -> str | None:
        return None if value is None else format_amount(value, quote_scale)

    change = None if day.open is None or day.last is None else day.last - day.open
    return {
        "market": symbol, "open": price(day.open), "high": price(day.high),
        "low": price(day.low), "last": price(day.last),
        "volume": format_amount(day.volume, base_scale),
        "quote_volume": format_amount(day.quote_volume.quantize(
            Decimal(1).scaleb(-quote_scale)), quote_scale),
        "change": price(change),
        "change_percent": None if change is None or day.open is None else
        f"{(change * 100 / day.open).quantize(Decimal('0.01')):f}",
        "trades": day.trades,
    }


routes = Routes()
# The public answers this process keeps (``api.market_cache``: until their market
# changes, at most 0.5 s).
ANSWERS = MarketDataCache(refusals=(ApiError,))


def _question(call: Call) -> tuple:
    """What a public answer depends on: the path and the declared query parameters."""
    return tuple(sorted(call.path.items())) + tuple(sorted(call.query.items()))


kept = cached(ANSWERS, _question, json_answers.encoded, lambda call: call.path.get("market"))


@routes.route("GET", "/v1/markets/{market}/book", summary="the aggregated order book",
              tag="market data", query={"depth": DEPTH},
              responses={200: ("levels, best first, with the book's sequence", BOOK),
                         404: ("no such market", None)})


@kept
def book(services: Services, call: Call) -> dict:
    symbol = call.path["market"]
    with services.engine.connect() as conn:
        base_scale, quote_scale = _scales(conn, symbol)
    sequence, sides = book_levels(services.engine, symbol, call.query["depth"])
    return {"market": symbol, "sequence": sequence, **{
        name: [[format_amount(p, quote_scale), format_amount(q, base_scale)]
               for p, q in sides[side]] for name, side in (("bids", "buy"), ("asks", "sell"))}}


def book_levels(engine: Engine, symbol: str, depth: int
                ) -> tuple[int, dict[str, list[tuple[Decimal, Decimal]]]]:
    """The book's sequence and its best ``depth`` levels a side (buy, sell), read in one
    snapshot so that the levels are the book at that sequence."""
    with engine.execution_options(isolation_level="REPEATABLE READ").connect() as conn:
        sequence = conn.execute(select(market_state.c.book_sequence).where(
            market_state.c.market == symbol)).scalar() or 0
        return sequence, {side: [(p, q) for p, q in conn.execute(BOOK_LEVELS, {
            "m": symbol, "side": side, "direction": direction, "depth": depth})]
            for side, direction in (("buy", -1), ("sell", 1))}


@routes.route("GET", "/v1/markets/{market}/trades", summary="public trades, newest first",
              tag="market data", query={"limit": LIMIT, "cursor": CURSOR},
              responses={200: ("a page of trades", page_of(TRADE)),
                         404: ("no such market", None)})


@kept
def market_trades(services: Services, call: Call) -> dict:
    symbol = call.path["market"]
    query = newest_first(select(trades).where(trades.c.market == symbol), trades.c.id, call)
    with services.engine.connect() as conn:
        base_scale, quote_scale = _scales(conn, symbol)
        rows = conn.execute(query).all()
    return page(rows, call, lambda r: {
        "id": str(r.id), "price": format_amount(r.price, quote_scale),
        "quantity": format_amount(r.quantity, base_scale), "taker_side": r.taker_side,
        "created_at": r.created_at.isoformat()})


@routes.route("GET", "/v1/markets/{market}/candles", summary="OHLCV candles, oldest first",
              tag="market data",
              query={"interval": {"enum": list(INTERVALS), "default": "1m"},
                     "limit": {"type": "integer", "minimum": 1, "maximum": CANDLES_MAX,
                               "default": 100}},
              responses={200: ("the last `limit` intervals up to now, empty ones included",
                               obj(market={"type": "string"}, interval={"type": "string"},
                                   items={"type": "array", "items": CANDLE})),
                         404: ("no such market", None)})


@kept
def market_candles(services: Services, call: Call) -> dict:
    symbol, interval = call.path["market"], call.query["interval"]
    end = bucket(datetime.now(timezone.utc), interval) + INTERVALS[interval]
    start = end - INTERVALS[interval] * call.query["limit"]
    with services.engine.connect() as conn:
        base_scale, quote_scale = _scales(conn, symbol)
        found = candles_between(conn, symbol, interval, start, end)
    quote_unit = Decimal(1).scaleb(-quote_scale)
    return {"market": symbol, "interval": interval, "items": [{
        "start": c["start"].isoformat(),
        **{k: format_amount(c[k], quote_scale) for k in ("open", "high", "low", "close")},
        **{k: format_amount(c[k], base_scale) for k in ("volume", "taker_buy_volume")},
        **{k: format_amount(c[k].quantize(quote_unit), quote_scale)
           for k in ("quote_volume", "taker_buy_quote_volume")},
        "trades": c["trades"]} for c in found]}


def candles_between(conn: Connection, symbol: str, interval: str, start: datetime,
                    end: datetime) -> list[dict]:
    """Every interval from ``start`` to ``end`` (exclusive), empty ones included
    (``matcher.candles.filled``)."""
    rows = conn.execute(select(candles).where(
        candles.c.market == symbol, candles.c.interval == interval,
        candles.c.start >= start, candles.c.start < end)).all()
    previous = conn.execute(select(candles.c.close).where(
        candles.c.market == symbol, candles.c.interval == interval,
        candles.c.start < start).order_by(candles.c.start.desc()).limit(1)).scalar()
    return filled(rows, interval, start, end, previous)


@routes.route("GET", "/v1/markets/{market}/ticker", summary="24-hour statistics",
              tag="market data", responses={200: ("the ticker", TICKER),
                                            404: ("no such market", None)})


@kept
def market_ticker(services: Services, call: Call) -> dict:
    with services.engine.connect() as conn:
        return ticker(conn, call.path["market"], datetime.now(timezone.utc))


@routes.route("GET", "/v1/tickers", summary="24-hour statistics of every market",
              tag="market data",
              responses={200: ("the tickers", obj(items={"type": "array", "items": TICKER}))})


@kept
def all_tickers(services: Services, call: Call) -> dict:
    now = datetime.now(timezone.utc)
    with services.engine.connect() as conn:
        symbols = conn.execute(select(markets.c.symbol).order_by(markets.c.symbol)
                               ).scalars().all()
        return {"items": [ticker(conn, symbol, now) for symbol in symbols]}

