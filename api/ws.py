"""The WebSocket feed (``GET /v1/ws``) of one ``web`` process.

The matcher publishes each committed batch to Redis (``market:{symbol}`` and
``user:{id}``); one subscription per process fans the events out to its sockets,
so any number of ``web`` processes serve any subscriber.

Client operations (JSON): ``{"op": "subscribe" | "unsubscribe", "channels": [...]}``,
``{"op": "auth", "token": ...}`` or ``{"op": "auth", "api_key", "timestamp",
"signature"}`` (signed like a request: timestamp + "GET" + "/v1/ws"),
``{"op": "resume", "channel": "book:M", "sequence": N}``, ``{"op": "ping"}``.

Channels: ``book:M`` (a snapshot, then changes that carry ``sequence`` and
``prev_sequence`` and a checksum of the top 25 levels), ``trades:M``,
``ticker:M`` and ``candles:M:1m`` (at most once a second), and after ``auth`` the
caller's own ``orders``, ``fills`` and ``balances``.

Bounds: subscriptions per socket, messages queued per socket (a client that does
not keep up is told ``slow_consumer`` and disconnected), message size; a
heartbeat every ``WS_HEARTBEAT_SECONDS``; sockets from a browser must come from the
website's origin.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from datetime import datetime, timezone
from typing import Any

import gevent
import gevent.queue
import redis
from sqlalchemy import Engine, select, text

from api import routes_market_data
from api.auth import Authenticator
from api.errors import ApiError, translate
from config import Settings
from db.schema import candles as candles_table, market_state
from ledger import format_amount, user_balances
from matcher import feed
from matcher.candles import INTERVALS, bucket

SUBSCRIPTIONS_PER_SOCKET_MAX = 50
MESSAGE_BYTES_MAX = 4096
RESUME_BUFFER_MAX = 1000          # book messages kept per market for resuming
MARKET_DATA_INTERVAL_SECONDS = 1  # ticker and candle updates, at most this often
PRIVATE_CHANNELS = ("orders", "fills", "balances")
log = logging.getLogger("api.ws")

_LEVELS = text("""
    SELECT price, sum(quantity - filled_quantity) AS quantity FROM orders
     WHERE market = :m AND side = :side AND status IN ('open', 'partially_filled')
     GROUP BY price ORDER BY price * :direction LIMIT :depth""")


class SlowConsumer(Exception):
    """Raised when a socket's queue is full: the client does not read fast enough."""


class Client:
    def __init__(self, queue_max: int) -> None:
        self.queue: gevent.queue.Queue = gevent.queue.Queue(maxsize=queue_max)
        self.channels: set[str] = set()
        self.user_id: int | None = None
        self.slow = False

    def offer(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except gevent.queue.Full:
            self.slow = True
            raise SlowConsumer from None


class Hub:
    def __init__(self, settings: Settings, engine: Engine, authenticator: Authenticator) -> None:
        self.settings, self.engine, self.authenticator = settings, engine, authenticator
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.clients: set[Client] = set()
        self.book_messages: dict[str, deque] = {}
        self.dirty_markets: set[str] = set()
        self._started = False

    # Events from the matcher -----------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            gevent.spawn(self._listen)
            gevent.spawn(self._market_data_loop)

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe("market:*", "user:*")
                for message in pubsub.listen():
                    self._dispatch(message["channel"].decode(), json.loads(message["data"]))
            except redis.RedisError as error:  # Redis restarted: a delay, then resubscribe
                log.warning("event subscription lost (%s); resubscribing", error)
                gevent.sleep(1)

    def _dispatch(self, channel: str, event: dict[str, Any]) -> None:
        if channel.startswith("market:"):
            market = event["market"]
            book = {"type": "book", "channel": f"book:{market}", **event["book"]}
            self.book_messages.setdefault(market, deque(maxlen=RESUME_BUFFER_MAX)).append(book)
            self._send(f"book:{market}", book)
            if event["trades"]:
                self._send(f"trades:{market}", {"type": "trades", "channel": f"trades:{market}",
                                                "time": event["time"], "trades": event["trades"]})
                self.dirty_markets.add(market)
        else:
            user_id = int(channel.split(":", 1)[1])
            for client in list(self.clients):
                if client.user_id != user_id:
                    continue
                if "orders" in client.channels and event["orders"]:
                    self._offer(client, {"type": "orders", "channel": "orders",
                                         "market": event["market"], "orders": event["orders"]})
                if "fills" in client.channels and event["fills"]:
                    self._offer(client, {"type": "fills", "channel": "fills",
                                         "market": event["market"], "fills": event["fills"]})
                if "balances" in client.channels:
                    self._offer(client, self._balances(user_id))

    def _market_data_loop(self) -> None:
        while True:
            gevent.sleep(MARKET_DATA_INTERVAL_SECONDS)
            markets, self.dirty_markets = self.dirty_markets, set()
            for market in markets:
                try:
                    self._send_market_data(market)
                except Exception:  # one market's failure must not stop the loop
                    log.exception("market data for %s", market)

    def _send_market_data(self, market: str) -> None:
        now = datetime.now(timezone.utc)
        if self._subscribed(f"ticker:{market}"):
            with self.engine.connect() as conn:
                ticker = routes_market_data.ticker(conn, market, now)
            self._send(f"ticker:{market}", {"type": "ticker", "channel": f"ticker:{market}",
                                            **ticker})
        for interval in INTERVALS:
            channel = f"candles:{market}:{interval}"
            if self._subscribed(channel):
                self._send(channel, {"type": "candle", "channel": channel,
                                     **self._candle(market, interval, now)})

    def _candle(self, market: str, interval: str, now: datetime) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(candles_table).where(
                candles_table.c.market == market, candles_table.c.interval == interval,
                candles_table.c.start == bucket(now, interval))).first()
        if row is None:
            return {"start": bucket(now, interval).isoformat(), "trades": 0}
        return {"start": row.start.isoformat(),
                **{k: feed.plain(getattr(row, k)) for k in ("open", "high", "low", "close",
                                                             "volume")},
                "trades": row.trades}

    def _balances(self, user_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = user_balances(conn, user_id)
        return {"type": "balances", "channel": "balances", "items": [
            {"currency": b.currency, "available": format_amount(b.available, b.scale),
             "held": format_amount(b.held, b.scale), "total": format_amount(b.total, b.scale)}
            for b in found.values()]}

    def _subscribed(self, channel: str) -> bool:
        return any(channel in client.channels for client in self.clients)

    def _send(self, channel: str, message: dict[str, Any]) -> None:
        for client in list(self.clients):
            if channel in client.channels:
                self._offer(client, message)

    @staticmethod
    def _offer(client: Client, message: dict[str, Any]) -> None:
        try:
            client.offer(message)
        except SlowConsumer:
            pass  # its writer sees ``slow`` and disconnects it

    # One socket ----------------------------------------------------------------

    def serve(self, socket: Any, environ: dict[str, Any]) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin != self.settings.site_origin:
            socket.send(json.dumps(_error("origin_not_allowed",
                                          f"sockets from {origin} are not allowed")))
            socket.close()
            return
        self.start()
        client = Client(self.settings.ws_client_queue_max)
        self.clients.add(client)
        writer = gevent.spawn(self._write, socket, client)
        try:
            while not writer.dead:
                raw = socket.receive()
                if raw is None:
                    break
                for reply in self._handle(client, raw, environ):
                    self._offer(client, reply)
        finally:
            self.clients.discard(client)
            writer.kill()

    def _write(self, socket: Any, client: Client) -> None:
        try:
            while True:
                if client.slow:
                    socket.send(json.dumps(_error("slow_consumer",
                                                  "too many messages waiting: reconnect and "
                                                  "resume")))
                    socket.close()
                    return
                try:
                    message = client.queue.get(timeout=self.settings.ws_heartbeat_seconds)
                except gevent.queue.Empty:
                    message = {"type": "heartbeat"}
                socket.send(json.dumps(message))
        except Exception:  # the socket closed under us: the reader ends the session
            return

    def _handle(self, client: Client, raw: str | bytes, environ: dict[str, Any]) -> list[dict]:
        try:
            if len(raw) > MESSAGE_BYTES_MAX:
                raise ApiError(400, "message_too_large", f"at most {MESSAGE_BYTES_MAX} bytes")
            request = json.loads(raw)
            if not isinstance(request, dict):
                raise ApiError(400, "invalid_message", "send a JSON object with an op")
            op = request.get("op")
            if op == "ping":
                return [{"type": "pong"}]
            if op == "auth":
                return [self._auth(client, request, environ)]
            if op in ("subscribe", "unsubscribe"):
                channels = request.get("channels")
                if not isinstance(channels, list) or not all(isinstance(c, str)
                                                              for c in channels):
                    raise ApiError(400, "invalid_message", "channels is a list of strings")
                if op == "unsubscribe":
                    client.channels.difference_update(channels)
                    return [{"type": "unsubscribed", "channels": channels}]
                return self._subscribe(client, channels)
            if op == "resume":
                return self._resume(client, request)
            raise ApiError(400, "invalid_message",
                           "op is subscribe, unsubscribe, auth, resume or ping")
        except ValueError:
            return [_error("invalid_message", "messages are JSON objects")]
        except Exception as error:
            api_error = translate(error)
            if api_error is None:
                log.exception("websocket message failed")
                return [_error("internal_error", "internal error")]
            return [_error(api_error.code, api_error.message)]

    def _auth(self, client: Client, request: dict, environ: dict[str, Any]) -> dict:
        if "token" in request:
            principal = self.authenticator.session(str(request["token"]))
        else:
            principal = self.authenticator.verify_signature(
                str(request.get("api_key", "")), str(request.get("timestamp", "")),
                str(request.get("signature", "")), "GET", "/v1/ws", b"",
                environ.get("REMOTE_ADDR", ""))
            if "read" not in principal.scopes:
                raise ApiError(403, "insufficient_scope", "this API key lacks the read scope")
        client.user_id = principal.user_id
        return {"type": "authenticated"}

    def _subscribe(self, client: Client, channels: list[str]) -> list[dict]:
        replies: list[dict] = []
        for channel in channels:
            if channel in PRIVATE_CHANNELS and client.user_id is None:
                raise ApiError(401, "authentication_required",
                               f"send an auth message before subscribing to {channel}")
            kind, _, rest = channel.partition(":")
            if channel not in PRIVATE_CHANNELS and (
                    kind not in ("book", "trades", "ticker", "candles") or not rest or
                    (kind == "candles" and rest.rpartition(":")[2] not in INTERVALS)):
                raise ApiError(400, "unknown_channel", f"no channel {channel!r}")
            if len(client.channels | {channel}) > SUBSCRIPTIONS_PER_SOCKET_MAX:
                raise ApiError(400, "too_many_subscriptions",
                               f"at most {SUBSCRIPTIONS_PER_SOCKET_MAX} channels per socket")
            market = rest.rpartition(":")[0] if kind == "candles" else rest
            if kind in ("book", "trades", "ticker", "candles"):
                routes_market_data.check_market(self.engine, market)
            client.channels.add(channel)
            replies.append({"type": "subscribed", "channel": channel})
            if kind == "book":
                replies.append(self.snapshot(market))
            if channel == "balances":
                replies.append(self._balances(client.user_id))  # type: ignore[arg-type]
        return replies

    def snapshot(self, market: str) -> dict[str, Any]:
        snapshot = self.engine.execution_options(isolation_level="REPEATABLE READ")
        with snapshot.connect() as conn:
            sequence = conn.execute(select(market_state.c.book_sequence).where(
                market_state.c.market == market)).scalar() or 0
            sides = {side: [(feed.plain(p), feed.plain(q)) for p, q in conn.execute(
                _LEVELS, {"m": market, "side": side, "direction": direction,
                          "depth": feed.FEED_DEPTH})]
                     for side, direction in (("buy", -1), ("sell", 1))}
        return {"type": "snapshot", "channel": f"book:{market}", "sequence": sequence,
                "bids": sides["buy"], "asks": sides["sell"],
                "checksum": feed.checksum(sides["buy"], sides["sell"])}

    def _resume(self, client: Client, request: dict) -> list[dict]:
        channel, since = request.get("channel", ""), request.get("sequence")
        if not isinstance(channel, str) or not channel.startswith("book:") or \
                not isinstance(since, int):
            raise ApiError(400, "invalid_message", "resume needs channel book:M and a sequence")
        market = channel.split(":", 1)[1]
        routes_market_data.check_market(self.engine, market)
        client.channels.add(channel)
        buffered = list(self.book_messages.get(market, ()))
        starts = [i for i, m in enumerate(buffered) if m["prev_sequence"] == since]
        if starts:
            return [{"type": "resumed", "channel": channel}, *buffered[starts[0]:]]
        if buffered and buffered[-1]["sequence"] == since:
            return [{"type": "resumed", "channel": channel}]
        return [{"type": "subscribed", "channel": channel}, self.snapshot(market)]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
