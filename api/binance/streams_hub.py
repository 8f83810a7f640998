"""Binance's stream protocol on one ``web`` process: ``/ws/<streams>``, ``/stream?streams=``,
``/ws/<listenKey>``, fed by the native hub's one Redis subscription (``api.ws.Hub``,
which this follows) and bounded as ``/v1/ws`` is (``api.ws_sockets``, ``api.ws_limits``).

    /ws  /ws/a@trade/b@depth      raw: each frame as it is
    /stream?streams=a@trade/b     combined: each frame in {"stream": name, "data": frame}
    /ws/0  /stream/0              a client's numbered connection, empty until SUBSCRIBE
                                  (ccxt.pro opens those)
    /ws/<listenKey>               one API key's user data (``api.binance.listen_keys``)

Bounds: STREAMS_PER_SOCKET_MAX streams (``api.binance.streams_requests``), Binance's five
messages a second from the client (beyond, refused, then disconnected), the socket's
queue (a client that does not keep up is disconnected), a ping frame when quiet. A
socket the server ends is closed with the reason; a user-data socket first hears
``listenKeyExpired`` (its key expired, was closed, its API key revoked, its user frozen).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Iterable

import gevent

from api import ws_frames, ws_limits, ws_sockets
from api.binance import streams_requests
from api.binance.listen_keys import NO_SUCH_KEY, ListenKeys
from api.binance.streams_market import DIFF_SPEEDS_MS, MarketStreams, StreamClient
from api.binance.streams_user import UserStreams
from api.binance.symbols import binance_symbol
from api.ws_access import Grant
from events import channels

if TYPE_CHECKING:
    from api.binance.services import BinanceServices
    from api.ws import Hub

MESSAGES_PER_SECOND = 5            # Binance's limit on what a client sends
MESSAGE_BURST = 5
PING_SECONDS = 20                  # Binance pings every 20 s
LISTEN_KEY_CHECK_SECONDS = 1.0
FAST_TICK_MS = min(DIFF_SPEEDS_MS)
log = logging.getLogger("api.binance.streams")


class BinanceStreams:
    def __init__(self, hub: Hub, services: BinanceServices, listen_keys: ListenKeys) -> None:
        self.hub, self.services, self.listen_keys = hub, services, listen_keys
        self.books = hub.books
        self.market = MarketStreams(services, hub.books)
        self.users = UserStreams(services)
        self.clients: set[StreamClient] = set()
        self._started = False
        hub.followers.append(self)

    # As the hub's follower ------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            gevent.spawn(self._timed)
            gevent.spawn(self._check_listen_keys)

    def received(self, channel: str, event: dict[str, Any]) -> None:
        if channels.is_market_channel(channel):
            listed = self.services.symbols.of_market(event["market"])
            self.market.batch(listed, event)
        else:
            self.users.received(channels.user_of(channel), event)

    def watching_book(self, market: str) -> int:
        return self.market.watching_book(binance_symbol(market))

    def holders(self) -> Iterable[StreamClient]:
        return [client for client in self.clients if client.grant is not None]

    def _timed(self) -> None:
        ticks = 0
        while True:
            gevent.sleep(FAST_TICK_MS / 1000)
            ticks += 1
            for speed in DIFF_SPEEDS_MS:
                if ticks % (speed // FAST_TICK_MS) == 0:
                    self._guarded(self.market.every_interval, speed)
            if ticks % (1000 // FAST_TICK_MS) == 0:
                self._guarded(self.market.every_second)

    @staticmethod
    def _guarded(work: Any, *args: Any) -> None:
        try:
            work(*args)
        except Exception:  # one failure must not stop the streams: tried again next time
            log.exception("binance streams: %s", work.__name__)

    def _check_listen_keys(self) -> None:
        while True:
            gevent.sleep(LISTEN_KEY_CHECK_SECONDS)
            held = {c: c.listen_key for c in list(self.clients) if c.listen_key is not None}
            if not held:
                continue
            try:
                alive = self.listen_keys.alive(set(held.values()))
            except Exception:  # Redis away: checked again next time
                log.exception("binance streams: listen keys")
                continue
            for client, key in held.items():
                if key not in alive:
                    client.end("listen_key_expired", "the listen key expired or was closed")

    # One socket ----------------------------------------------------------------

    def serve(self, socket: Any, environ: dict[str, Any], path: list[str],
              combined: bool, names: list[str]) -> None:
        """``path``: what followed /ws or /stream; ``names``: a combined URL's streams."""
        origin = environ.get("HTTP_ORIGIN")
        if not ws_limits.origin_allowed(origin, environ.get("HTTP_HOST"),
                                        self.hub._origins):
            return _refuse(socket, 2, f"sockets from {origin} are not allowed")
        self.hub.start()
        names = [*names, *(part for part in path if part and not part.isdigit())]
        keys = [name for name in names if "@" not in name and not name.startswith("!")]
        if len(keys) > 1:
            return _refuse(socket, 2, "one listen key a connection")
        owner = self.listen_keys.owner(keys[0]) if keys else None
        if keys and owner is None:
            return _refuse(socket, -1125, NO_SUCH_KEY)
        client = StreamClient(self.hub.settings.ws_client_queue_max, ws_limits.MessageBudget(
            MESSAGES_PER_SECOND, MESSAGE_BURST), combined,
            _listen_key_expired(keys[0]) if keys else None,
            self.hub.settings.ws_client_lag_max_ms / 1000)
        try:
            streams_requests.subscribe(self, client, [n for n in names if n not in keys])
        except streams_requests.Refused as refused:
            self.market.drop(client)
            return _refuse(socket, refused.code, refused.msg)
        if owner is not None:
            key = keys[0]
            client.grant, client.listen_key = Grant(owner.user_id, api_key_id=owner.api_key_id), key
            self.users.add(owner.user_id, client,
                           (lambda frame: {"stream": key, "data": frame}) if combined
                           else (lambda frame: frame))
        try:
            ws_sockets.serve(socket, client, self.clients, lambda raw: self._admit(client, raw),
                             lambda: ws_sockets.write(socket, client, PING_SECONDS,
                                                     ws_frames.PING))
        finally:
            self.market.drop(client)
            self.users.forget(client)

    def _admit(self, client: StreamClient, raw: str | bytes) -> None:
        verdict = client.budget.take()
        if verdict == ws_limits.EXHAUSTED:
            client.end("too_many_messages", f"more than {MESSAGES_PER_SECOND} messages a "
                       "second, sustained after refusals: disconnected")
        elif verdict == ws_limits.REFUSED:
            client.offer(streams_requests.error(
                2, f"Invalid request: at most {MESSAGES_PER_SECOND} messages a second; this "
                f"one was not read, retry after {client.budget.retry_after_seconds():.1f} s"))
        else:
            streams_requests.handle(self, client, raw)


def _listen_key_expired(key: str) -> Any:
    def farewell(code: str, message: str) -> dict[str, Any]:
        return {"e": "listenKeyExpired", "E": int(time.time() * 1000), "listenKey": key}
    return farewell


def _refuse(socket: Any, code: int, msg: str) -> None:
    """A connection refused once open: the error, then the close."""
    try:
        socket.send(json.dumps(streams_requests.error(code, msg)))
        ws_sockets.close(socket, ws_sockets.POLICY_VIOLATION, msg)
    except Exception:  # already gone
        pass
