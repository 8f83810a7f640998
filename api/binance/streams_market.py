"""The market streams of one ``web`` process: who subscribes to what, and each event of
the hub turned into Binance's frames at Binance's speeds.

Diffs (``@depth``, ``@depth@100ms``) gather the book messages of their interval: ``U``
is the first message's ``prev_sequence + 1``, ``u`` the last one's ``sequence``, each
level its last quantity; so every diff's ``U`` is the previous ``u + 1`` and REST
``depth``'s ``lastUpdateId`` (the committed ``book_sequence``) falls inside the first diff
a client keeps. A message that does not follow the one before it (one was lost) ends the
interval early: its clients see the gap and resynchronise, as they do on Binance.

Partial books and the best bid and ask come from the book the hub follows
(``api.ws_books``), kept for as long as one socket here wants it; trades are read from
the database after each batch (their ids and times are the table's, as REST answers).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import gevent
from sqlalchemy import select

from api import ws_frames
from api.binance import streams_frames as frames
from api.binance.routes_market import day_ticker, kline
from api.binance.streams_names import Stream
from api.binance.symbols import Listed
from api.routes_market_data import candles_between
from api.ws_sockets import LAG_MAX_SECONDS, Client
from db.schema import trades
from matcher.candles import INTERVALS, bucket

if TYPE_CHECKING:
    from api.binance.services import BinanceServices
    from api.ws_books import Books

DIFF_SPEEDS_MS = (100, 1000)
TRADES_PER_READ_MAX = 1000
BOOK_KINDS = ("partial", "bookTicker")   # the streams that need the book followed here
log = logging.getLogger("api.binance.streams")


class StreamClient(Client):
    """A socket of the stream protocol: raw (frames as they are) or combined (each in
    ``{"stream", "data"}``), and the streams it subscribed, by the names it wrote."""

    def __init__(self, queue_max: int, budget: Any, combined: bool,
                 farewell_of: Any = None, lag_max_seconds: float = LAG_MAX_SECONDS) -> None:
        super().__init__(queue_max, budget, farewell_of or (lambda code, message: None),
                         lag_max_seconds)
        self.combined = combined
        self.streams: dict[str, Stream] = {}
        self.listen_key: str | None = None      # a user-data socket's


def encoded(name: str, frame: Any, combined: bool, known: dict[tuple[str, bool], bytes]
            ) -> bytes:
    """``frame`` as a socket of that name and kind receives it, encoded once per spelling
    (``known`` holds those encoded so far)."""
    key = (name if combined else "", combined)
    if key not in known:
        known[key] = ws_frames.text({"stream": name, "data": frame} if combined else frame)
    return known[key]


class DiffBuffer:
    """One interval's book messages of one market, gathered into one diff."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last: int | None = None
        self.sides: dict[str, dict[str, str]] = {"buy": {}, "sell": {}}

    def add(self, message: dict[str, Any]) -> bool:
        """False when ``message`` does not follow the last one gathered (flush first)."""
        if self.last is not None and message["prev_sequence"] != self.last:
            return False
        if self.first is None:
            self.first = message["prev_sequence"] + 1
        self.last = message["sequence"]
        for side, price, quantity in message["changes"]:
            self.sides[side][price] = quantity
        return True

    def take(self) -> tuple[int, int, dict[str, str], dict[str, str]] | None:
        if self.first is None or self.last is None:
            return None
        taken = (self.first, self.last, self.sides["buy"], self.sides["sell"])
        self.__init__()  # type: ignore[misc]
        return taken


class MarketStreams:
    def __init__(self, services: BinanceServices, books: Books) -> None:
        self.services, self.books = services, books
        self.subscribers: dict[tuple, dict[StreamClient, str]] = {}   # stream key: client: name
        self.diffs: dict[tuple[str, int], DiffBuffer] = {}            # (symbol, speed)
        self.dirty: set[str] = set()          # symbols whose tickers may have moved
        self.trade_cursor: dict[str, int] = {}   # symbol: the last trade id sent
        self.trade_reads: dict[str, int] = {}    # symbol: trades told of while it reads
        self.best: dict[str, tuple] = {}         # symbol: the best bid and ask last sent
        self.kline_start: dict[tuple[str, str], int] = {}   # (symbol, interval): ms

    # Subscriptions -------------------------------------------------------------

    def add(self, client: StreamClient, stream: Stream) -> None:
        self.subscribers.setdefault(stream.key, {})[client] = stream.name
        client.streams[stream.name] = stream
        self.dirty.add(stream.symbol or "")   # a ticker within the second

    def remove(self, client: StreamClient, name: str) -> None:
        stream = client.streams.pop(name, None)
        if stream is None:
            return
        subscribed = self.subscribers.get(stream.key, {})
        if subscribed.get(client) == name:
            del subscribed[client]
            same = [n for n, s in client.streams.items() if s.key == stream.key]
            if same:    # another spelling of it remains
                subscribed[client] = same[0]
        if not subscribed:
            self.subscribers.pop(stream.key, None)
            self.diffs.pop((stream.symbol or "", stream.speed_ms), None)
            self.kline_start.pop((stream.symbol or "", stream.interval), None)

    def drop(self, client: StreamClient) -> None:
        for name in list(client.streams):
            self.remove(client, name)

    def watching_book(self, symbol: str) -> int:
        return sum(len(clients) for key, clients in self.subscribers.items()
                   if key[1] == symbol and key[0] in BOOK_KINDS)

    def _send(self, key: tuple, frame: Any) -> None:
        """``frame`` to every subscriber of the stream, encoded once per spelling."""
        known: dict[tuple[str, bool], bytes] = {}
        for client, name in list(self.subscribers.get(key, {}).items()):
            client.offer_frame(encoded(name, frame, client.combined, known))

    def _keys(self, kind: str) -> list[tuple]:
        return [key for key in self.subscribers if key[0] == kind]

    # Events --------------------------------------------------------------------

    def batch(self, listed: Listed, event: dict[str, Any]) -> None:
        """A matcher's committed batch (the hub's ``market:*`` message)."""
        symbol = listed.symbol
        self.dirty.add(symbol)
        for speed in DIFF_SPEEDS_MS:
            if ("depth", symbol, 0, "", speed) not in self.subscribers:
                continue
            buffer = self.diffs.setdefault((symbol, speed), DiffBuffer())
            if not buffer.add(event["book"]):
                self._flush_diff(listed, speed, buffer)
                buffer.add(event["book"])
        key = ("bookTicker", symbol, 0, "", 0)
        snapshot = self.books.in_memory(listed.market.symbol) if key in self.subscribers \
            else None
        if snapshot is not None:
            frame = frames.book_ticker(listed, snapshot)
            best = (frame["b"], frame["B"], frame["a"], frame["A"])
            if best != self.best.get(symbol):
                self.best[symbol] = best
                self._send(key, frame)
        if event["trades"]:
            self._trades_soon(listed, len(event["trades"]))

    def _trades_soon(self, listed: Listed, count: int) -> None:
        """The batch's trades are read from the database in a greenlet of their own, one a
        symbol at a time (so in order): the hub's one reader of Redis, which every socket of
        every protocol waits for, does not wait for that query."""
        symbol = listed.symbol
        if symbol in self.trade_reads:
            self.trade_reads[symbol] += count
            return
        self.trade_reads[symbol] = count
        gevent.spawn(self._read_trades, listed)

    def _read_trades(self, listed: Listed) -> None:
        symbol = listed.symbol
        try:
            while self.trade_reads[symbol]:
                count, self.trade_reads[symbol] = self.trade_reads[symbol], 0
                try:
                    self._trades(listed, count)
                except Exception:  # tried again at the next batch, from the cursor
                    log.exception("binance streams: trades of %s", symbol)
        finally:
            self.trade_reads.pop(symbol, None)

    def _trades(self, listed: Listed, count: int) -> None:
        symbol, market = listed.symbol, listed.market.symbol
        keys = [(kind, symbol, 0, "", 0) for kind in ("trade", "aggTrade")]
        if not any(key in self.subscribers for key in keys):
            self.trade_cursor.pop(symbol, None)
            return
        cursor = self.trade_cursor.get(symbol)
        query = select(trades).where(trades.c.market == market)
        with self.services.native.engine.connect() as conn:
            if cursor is None:   # the first batch seen: its own trades, the latest
                rows = list(reversed(conn.execute(query.order_by(trades.c.id.desc())
                                                  .limit(count)).all()))
            else:
                rows = conn.execute(query.where(trades.c.id > cursor).order_by(trades.c.id)
                                    .limit(TRADES_PER_READ_MAX)).all()
        if not rows:
            return
        self.trade_cursor[symbol] = rows[-1].id
        now = _now_ms()
        for row in rows:
            self._send(keys[0], frames.trade(listed, row, now))
            self._send(keys[1], frames.agg_trade(listed, row, now))

    # Timed ---------------------------------------------------------------------

    def every_interval(self, speed: int) -> None:
        """What is sent every ``speed`` ms: diffs and partial books of that speed."""
        for key in self._keys("depth"):
            buffer = self.diffs.get((key[1], speed))
            if key[4] == speed and buffer is not None:
                self._flush_diff(self.services.symbols.get(key[1]), speed, buffer)
        for key in self._keys("partial"):
            if key[4] == speed:
                listed = self.services.symbols.get(key[1])
                snapshot = self.books.snapshot(listed.market.symbol)
                if key in self.subscribers:   # still, after the read
                    self._send(key, frames.partial_book(listed, snapshot, key[2]))

    def _flush_diff(self, listed: Listed, speed: int, buffer: DiffBuffer) -> None:
        taken = buffer.take()
        if taken is not None:
            self._send(("depth", listed.symbol, 0, "", speed),
                       frames.depth_update(listed, *taken, _now_ms()))

    def every_second(self) -> None:
        """Candles (each subscribed one, moving or not, as Binance sends them) and the
        tickers of the markets that moved."""
        now = datetime.now(timezone.utc)
        for key in self._keys("kline"):
            self._kline(self.services.symbols.get(key[1]), key[3], now)
        dirty, self.dirty = self.dirty, set()
        wanted = {kind: bool(self._keys(kind)) for kind in ("ticker", "miniTicker")}
        arrays = {kind: (kind, None, 0, "", 0) in self.subscribers for kind in wanted}
        if not any(wanted.values()):
            return
        days = []
        with self.services.native.engine.connect() as conn:
            for symbol in sorted(dirty):
                if any((kind, symbol, 0, "", 0) in self.subscribers for kind in wanted) or \
                        any(arrays.values()):
                    listed = self._listed(symbol)
                    if listed is not None:
                        days.append(day_ticker(self.services, conn, listed, now))
        self._tickers(days, arrays)

    def _tickers(self, days: list[dict[str, Any]], arrays: dict[str, bool]) -> None:
        event_ms = _now_ms()
        for kind, shape in (("ticker", frames.ticker), ("miniTicker", frames.mini_ticker)):
            shaped = [shape(day, event_ms) for day in days]
            for frame in shaped:
                self._send((kind, frame["s"], 0, "", 0), frame)
            if arrays[kind] and shaped:
                self._send((kind, None, 0, "", 0), shaped)

    def _kline(self, listed: Listed, interval: str, now: datetime) -> None:
        width, market = INTERVALS[interval], listed.market.symbol
        start = bucket(now, interval)
        since = self.kline_start.get((listed.symbol, interval))
        event_ms = _now_ms()
        with self.services.native.engine.connect() as conn:
            if since is not None and since < _ms(start):   # the last one closed: final
                closed = candles_between(conn, market, interval, start - width, start)
                for candle in closed:
                    self._send(("kline", listed.symbol, 0, interval, 0), frames.kline(
                        listed, interval, kline(candle, width, listed), True, event_ms))
            current = candles_between(conn, market, interval, start, start + width)
        self.kline_start[(listed.symbol, interval)] = _ms(start)
        for candle in current:
            self._send(("kline", listed.symbol, 0, interval, 0), frames.kline(
                listed, interval, kline(candle, width, listed), False, event_ms))

    def _listed(self, symbol: str) -> Listed | None:
        try:
            return self.services.symbols.get(symbol)
        except Exception:
            return None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
