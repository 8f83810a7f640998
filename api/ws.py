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
caller's own ``orders``, ``fills`` and ``balances``, for as long as the access behind
them holds (``api.ws_access``).

Bounds (``api.ws_limits``): client messages per second, subscriptions per socket,
messages queued per socket (a client that does not keep up is told ``slow_consumer``),
message size; a heartbeat every ``WS_HEARTBEAT_SECONDS``; a browser's socket must
come from the website or the API itself. A socket the server ends gets an error
message with a code, then the close. Snapshots come from ``api.ws_books``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Protocol

import gevent
import redis
from sqlalchemy import Engine, select

from api import routes_market_data, ws_access, ws_frames, ws_limits, ws_outbox, ws_sockets
from api.auth import Authenticator
from api.client_address import client_address
from api.errors import ApiError, translate
from api.order_waits import OrderWaits
from api.ratelimit import RateLimiter
from api.ws_access import Grant
from api.ws_sockets import Client
from api.ws_books import Books, KnownMarkets
from config import Settings
from events import channels
from db.schema import candles as candles_table
from ledger import format_amount, user_balances
from matcher import feed
from matcher.candles import INTERVALS, bucket
from observability import metrics

SUBSCRIPTIONS_PER_SOCKET_MAX = 50
MESSAGE_BYTES_MAX = 4096
MARKET_DATA_INTERVAL_SECONDS = 1  # ticker and candle updates, at most this often
PRIVATE_CHANNELS = ("orders", "fills", "balances")
PUBLIC_KINDS = ("book", "trades", "ticker", "candles")
HEARTBEAT = ws_frames.text({"type": "heartbeat"})
log = logging.getLogger("api.ws")


class Follower(Protocol):
    """Another protocol's fan-out, fed by the hub's one subscription to Redis."""

    def start(self) -> None: ...

    def received(self, channel: str, event: dict[str, Any]) -> None: ...

    def watching_book(self, market: str) -> int:
        """How many of its sockets need the market's book followed (``api.ws_books``)."""
        ...

    def holders(self) -> Iterable[Client]:
        """Its sockets whose grants ``api.ws_access`` checks again."""
        ...


class Hub:
    def __init__(self, settings: Settings, engine: Engine, authenticator: Authenticator,
                 limiter: RateLimiter | None = None, order_waits: OrderWaits | None = None
                 ) -> None:
        self.settings, self.engine, self.authenticator = settings, engine, authenticator
        self.limiter, self.order_waits = limiter, order_waits
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.clients: set[Client] = set()
        self.books = Books(engine)
        self.markets = KnownMarkets(engine)
        self.dirty_markets: set[str] = set()
        self._origins = (settings.site_origin, settings.api_public_url)
        self._started = False
        # Other stream protocols served from this process (``api.binance.streams_hub``):
        # each hears every event after this hub, and its sockets' grants are checked too.
        self.followers: list[Follower] = []
        # Told each market whose batch is announced, before its sockets are (the public
        # answers kept by ``api.market_cache``).
        self.market_changed: list[Callable[[str], None]] = []

    # Events from the matcher -----------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            gevent.spawn(self._listen)
            gevent.spawn(self._market_data_loop)
            gevent.spawn(ws_access.keep_checking, self.engine, self._holders)
            for follower in self.followers:
                follower.start()

    def _holders(self) -> list[Client]:
        return [*self.clients, *(c for f in self.followers for c in f.holders())]

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(channels.MARKET_CHANNELS, channels.USER_CHANNELS)
                for message in pubsub.listen():
                    self._dispatch(message["channel"].decode(), json.loads(message["data"]))
                    if ws_outbox.FLUSHER.marked:
                        # Written before the next event: a burst read at once from Redis
                        # would otherwise pile up in every outbox, slow consumer or not.
                        gevent.sleep(0)
            except redis.RedisError as error:  # Redis restarted: a delay, then resubscribe
                log.warning("event subscription lost (%s); resubscribing", error)
                gevent.sleep(1)

    def _dispatch(self, channel: str, event: dict[str, Any]) -> None:
        if channels.is_market_channel(channel):
            market = event["market"]
            for changed in self.market_changed:
                changed(market)
            book = {"type": "book", "channel": f"book:{market}", **event["book"]}
            watching = sum(follower.watching_book(market) for follower in self.followers)
            self.books.received(market, book, self._send(f"book:{market}", book) + watching)
            if event["trades"]:
                self._send(f"trades:{market}", {"type": "trades", "channel": f"trades:{market}",
                                                "time": event["time"], "trades": event["trades"]})
                self.dirty_markets.add(market)
        else:
            self._dispatch_private(channels.user_of(channel), event)
        for follower in self.followers:
            try:
                follower.received(channel, event)
            except Exception:  # one protocol's failure must not starve the others
                log.exception("%s could not follow an event", type(follower).__name__)

    def _dispatch_private(self, user_id: int, event: dict[str, Any]) -> None:
        if self.order_waits is not None and event["orders"]:
            self.order_waits.received(event["orders"])
        balances = None   # read once for all the user's sockets
        for client in [c for c in self.clients if c.user_id == user_id]:
            if "orders" in client.channels and event["orders"]:
                client.offer({"type": "orders", "channel": "orders",
                              "market": event["market"], "orders": event["orders"]})
            if "fills" in client.channels and event["fills"]:
                client.offer({"type": "fills", "channel": "fills",
                              "market": event["market"], "fills": event["fills"]})
            if "balances" in client.channels:
                balances = balances or self._balances(user_id)
                if client.user_id == user_id:  # its access may have ended during the read
                    client.offer(balances)

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
                **{k: feed.plain(getattr(row, k)) for k in (
                    "open", "high", "low", "close", "volume", "taker_buy_volume",
                    "taker_buy_quote_volume")},
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

    def _send(self, channel: str, message: dict[str, Any]) -> int:
        """Queue ``message`` for every subscriber of ``channel``, encoded once; how many
        there were."""
        subscribers = [client for client in self.clients if channel in client.channels]
        if subscribers:
            frame = ws_frames.text(message)
            for client in subscribers:
                client.offer_frame(frame)
        return len(subscribers)

    # One socket ----------------------------------------------------------------

    def serve(self, socket: Any, environ: dict[str, Any]) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if not ws_limits.origin_allowed(origin, environ.get("HTTP_HOST"), self._origins):
            socket.send(json.dumps(_error("origin_not_allowed",
                                          f"sockets from {origin} are not allowed")))
            socket.close()
            return
        self.start()
        client = Client(self.settings.ws_client_queue_max, ws_limits.MessageBudget(
            self.settings.ws_messages_per_second, self.settings.ws_message_burst),
            lag_max_seconds=self.settings.ws_client_lag_max_ms / 1000)
        ws_sockets.serve(socket, client, self.clients,
                         lambda raw: self._admit(client, raw, environ),
                         lambda: ws_sockets.write(socket, client,
                                                  self.settings.ws_heartbeat_seconds, HEARTBEAT))

    def _admit(self, client: Client, raw: str | bytes, environ: dict[str, Any]) -> None:
        """Handle one client message if its budget allows; refuse it, or end the socket."""
        verdict = client.budget.take()
        budget = client.budget
        if verdict == ws_limits.EXHAUSTED:
            client.end("too_many_messages", f"more than {budget.rate_per_second} messages a "
                       "second, sustained after refusals: disconnected")
        elif verdict == ws_limits.REFUSED:
            client.offer(_error("rate_limited", f"at most {budget.rate_per_second} messages a "
                                f"second (bursts of {budget.burst}): this one was not read; "
                                f"retry after {budget.retry_after_seconds():.1f} s"))
        else:
            self._handle(client, raw, environ)

    def _handle(self, client: Client, raw: str | bytes, environ: dict[str, Any]) -> None:
        try:
            if len(raw) > MESSAGE_BYTES_MAX:
                raise ApiError(400, "message_too_large", f"at most {MESSAGE_BYTES_MAX} bytes")
            request = json.loads(raw)
            if not isinstance(request, dict):
                raise ApiError(400, "invalid_message", "send a JSON object with an op")
            op = request.get("op")
            if op == "ping":
                client.offer({"type": "pong"})
            elif op == "auth":
                self._auth(client, request, environ)
            elif op in ("subscribe", "unsubscribe"):
                channels = request.get("channels")
                if not isinstance(channels, list) or not all(isinstance(c, str)
                                                              for c in channels):
                    raise ApiError(400, "invalid_message", "channels is a list of strings")
                if op == "unsubscribe":
                    client.channels.difference_update(channels)
                    client.offer({"type": "unsubscribed", "channels": channels})
                else:
                    self._subscribe(client, list(dict.fromkeys(channels)))
            elif op == "resume":
                self._resume(client, request)
            else:
                raise ApiError(400, "invalid_message",
                               "op is subscribe, unsubscribe, auth, resume or ping")
        except ValueError:
            client.offer(_error("invalid_message", "messages are JSON objects"))
        except Exception as error:
            api_error = translate(error)
            if api_error is None:
                log.exception("websocket message failed")
                api_error = ApiError(500, "internal_error", "internal error")
            client.offer(_error(api_error.code, api_error.message))

    def _auth(self, client: Client, request: dict, environ: dict[str, Any]) -> None:
        if self.limiter is not None:
            # A database lookup, as a request's: counted against the address as one, so
            # that many sockets of one address cannot multiply what it may look up.
            self.limiter.hit(self.settings.rate_limit_per_ip, "ip",
                             client_address(environ, self.settings.trusted_proxies))
        if "token" in request:
            principal = self.authenticator.session(str(request["token"]))
        else:
            principal = self.authenticator.verify_signature(
                str(request.get("api_key", "")), str(request.get("timestamp", "")),
                str(request.get("signature", "")), "GET", "/v1/ws", b"",
                client_address(environ, self.settings.trusted_proxies))
            if "read" not in principal.scopes:
                raise ApiError(403, "insufficient_scope", "this API key lacks the read scope")
        client.grant = Grant.of(principal)
        client.offer({"type": "authenticated"})

    def _subscribe(self, client: Client, channels: list[str]) -> None:
        """All the channels or none: each is checked before any is subscribed."""
        for channel in channels:
            self._check_channel(client, channel)
        self._check_count(client, channels)
        for channel in channels:
            if client.ended is not None:
                return
            kind, _, market = channel.partition(":")
            first: dict[str, Any] | None = None   # what the channel starts with
            if kind == "book":
                first = self.books.snapshot(market)
            elif channel == "balances":
                first = self._balances(client.user_id)  # type: ignore[arg-type]
            if client.ended is not None or (channel in PRIVATE_CHANNELS and
                                               client.grant is None):
                return  # ended while the snapshot was read
            # Queued and subscribed with no switch between: no message is missed or
            # sent before the snapshot it follows.
            client.offer({"type": "subscribed", "channel": channel})
            if first is not None:
                client.offer(first)
            client.channels.add(channel)

    def _check_channel(self, client: Client, channel: str) -> None:
        if channel in PRIVATE_CHANNELS:
            if client.grant is None:
                raise ApiError(401, "authentication_required",
                               f"send an auth message before subscribing to {channel}")
            return
        kind, _, rest = channel.partition(":")
        if kind not in PUBLIC_KINDS or not rest or (
                kind == "candles" and rest.rpartition(":")[2] not in INTERVALS):
            raise ApiError(400, "unknown_channel", f"no channel {channel!r}")
        self.markets.check(rest.rpartition(":")[0] if kind == "candles" else rest)

    @staticmethod
    def _check_count(client: Client, channels: list[str]) -> None:
        if len(client.channels | set(channels)) > SUBSCRIPTIONS_PER_SOCKET_MAX:
            raise ApiError(400, "too_many_subscriptions",
                           f"at most {SUBSCRIPTIONS_PER_SOCKET_MAX} channels per socket")

    def _resume(self, client: Client, request: dict) -> None:
        channel, since = request.get("channel", ""), request.get("sequence")
        if not isinstance(channel, str) or not channel.startswith("book:") or \
                not isinstance(since, int):
            raise ApiError(400, "invalid_message", "resume needs channel book:M and a sequence")
        market = channel.split(":", 1)[1]
        self.markets.check(market)
        self._check_count(client, [channel])
        buffered = list(self.books.recent.get(market, ()))
        starts = [i for i, m in enumerate(buffered) if m["prev_sequence"] == since]
        if starts or (buffered and buffered[-1]["sequence"] == since):
            client.offer({"type": "resumed", "channel": channel})
            for message in buffered[starts[0]:] if starts else ():
                client.offer(message)
            client.channels.add(channel)
        else:
            self._subscribe(client, [channel])


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
