"""The part of Binance's WebSocket API (``/ws-api/v3``) that bots use for user data:
ccxt.pro 4.5 and python-binance 1.0 no longer open ``/ws/<listenKey>`` for spot, they
subscribe on this API with a signed request and hear the same events, each wrapped.

    {"id": "1", "method": "userDataStream.subscribe.signature",
     "params": {"apiKey", "timestamp", "recvWindow"?, "signature"}}
        -> {"id": "1", "status": 200, "result": {"subscriptionId": 0}}
        then {"subscriptionId": 0, "event": {"e": "executionReport", ...}}
    {"id", "method": "userDataStream.unsubscribe"}  {"id", "method": "ping"}  {"id", "method": "time"}

The signature is Binance's: hex HMAC-SHA256 of the parameters but ``signature``, sorted by
name, as ``k=v`` joined by ``&``; checked, and claimed once, as a REST request's is. A
refused request is answered ``{"id", "status": 4xx, "error": {"code", "msg"}}``. When
the access ends (key revoked, user frozen) the subscription hears
``eventStreamTerminated`` and the socket is closed.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from api.client_address import client_address
from api import ws_frames, ws_limits, ws_sockets
from api.auth import first_use
from api.binance import errors, signing
from api.binance.params import parse
from api.binance.streams_market import StreamClient
from api.errors import translate
from api.ws_access import Grant

if TYPE_CHECKING:
    from api.binance.streams_hub import BinanceStreams

PING_SECONDS = 20
SUBSCRIPTION_ID = 0          # one subscription a connection
REQUEST_BYTES_MAX = 4096
PARAMS_MAX = 8
METHODS = ("userDataStream.subscribe.signature", "userDataStream.unsubscribe", "ping", "time")


def serve(streams: BinanceStreams, socket: Any, environ: dict[str, Any]) -> None:
    if not ws_limits.origin_allowed(environ.get("HTTP_ORIGIN"), environ.get("HTTP_HOST"),
                                    streams.hub._origins):
        ws_sockets.close(socket, ws_sockets.POLICY_VIOLATION, "origin not allowed")
        return
    streams.hub.start()
    client = StreamClient(streams.hub.settings.ws_client_queue_max, ws_limits.MessageBudget(
        streams.hub.settings.ws_messages_per_second, streams.hub.settings.ws_message_burst),
        False, _terminated, streams.hub.settings.ws_client_lag_max_ms / 1000)
    address = client_address(environ, streams.hub.settings.trusted_proxies)
    try:
        ws_sockets.serve(socket, client, streams.clients,
                         lambda raw: _admit(streams, client, raw, address),
                         lambda: ws_sockets.write(socket, client, PING_SECONDS, ws_frames.PING))
    finally:
        streams.users.forget(client)


def _admit(streams: BinanceStreams, client: StreamClient, raw: str | bytes,
           address: str) -> None:
    request_id = None
    try:
        if client.budget.take() != ws_limits.ACCEPTED:
            raise errors.BinanceError(429, -1003, "Too many requests on this connection.")
        request = json.loads(raw) if len(raw) <= REQUEST_BYTES_MAX else None
        if not isinstance(request, dict):
            raise errors.BinanceError(400, -1000, f"Send a JSON object of at most "
                                      f"{REQUEST_BYTES_MAX} bytes: id, method, params.")
        request_id = request.get("id")
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool) or \
                len(str(request_id)) > 64:
            raise errors.BinanceError(400, -1000, "The id is a string or an integer.")
        result = _answer(streams, client, request.get("method"), request.get("params") or {},
                         address)
        client.offer({"id": request_id, "status": 200, "result": result})
    except ValueError:
        client.offer(_error(None, errors.BinanceError(400, -1000, "Messages are JSON.")))
    except Exception as error:
        client.offer(_error(request_id, error))


def _answer(streams: BinanceStreams, client: StreamClient, method: Any, params: Any,
            address: str) -> dict[str, Any]:
    if method == "ping":
        return {}
    if method == "time":
        return {"serverTime": int(time.time() * 1000)}
    if method == "userDataStream.unsubscribe":
        if client.grant is not None:
            streams.users.remove(client.grant.user_id, client)
            client.grant = None
        return {}
    if method != "userDataStream.subscribe.signature":
        raise errors.BinanceError(400, -1020, f"Unsupported method {method!r}; this API "
                                  f"serves {', '.join(METHODS)}.")
    if not isinstance(params, dict) or len(params) > PARAMS_MAX:
        raise errors.BinanceError(400, -1100, "params is an object: apiKey, timestamp, "
                                  "recvWindow, signature.")
    if client.grant is not None:
        raise errors.BinanceError(400, -1000, "This connection is already subscribed.")
    grant = _signed(streams, params, address)
    client.grant = grant
    streams.users.add(grant.user_id, client,
                      lambda frame: {"subscriptionId": SUBSCRIPTION_ID, "event": frame})
    return {"subscriptionId": SUBSCRIPTION_ID}


def _signed(streams: BinanceStreams, params: dict[str, Any], address: str) -> Grant:
    fields = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    payload = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "signature")
    authenticator = streams.services.native.authenticator
    principal = signing.principal(authenticator, fields.get("apiKey", ""),
                                  parse(payload, b""), payload.encode(),
                                  fields.get("signature"), address)
    if "read" not in principal.scopes:
        raise errors.BinanceError(401, -2015, errors.BAD_KEY)
    assert principal.signature_claim is not None
    claim, seconds = principal.signature_claim
    first_use(bool(authenticator.redis.set(claim, 1, nx=True, ex=seconds)))
    return Grant.of(principal)


def _error(request_id: Any, error: Exception) -> dict[str, Any]:
    if not isinstance(error, errors.BinanceError):
        native = translate(error)
        error = errors.from_native(native) if native is not None else \
            errors.BinanceError(500, -1000, errors.UNKNOWN)
    return {"id": request_id, "status": error.status,
            "error": {"code": error.code, "msg": error.msg}}


def _terminated(code: str, message: str) -> dict[str, Any]:
    return {"subscriptionId": SUBSCRIPTION_ID,
            "event": {"e": "eventStreamTerminated", "E": int(time.time() * 1000)}}


