"""What a stream socket's client may send, and Binance's answers to it.

    {"method": "SUBSCRIBE", "params": ["btcusdt@trade", ...], "id": 1}   -> {"result": null, "id": 1}
    {"method": "UNSUBSCRIBE", "params": [...], "id": 2}                   -> {"result": null, "id": 2}
    {"method": "LIST_SUBSCRIPTIONS", "id": 3}                             -> {"result": [...], "id": 3}
    {"method": "SET_PROPERTY", "params": ["combined", true], "id": 4}     -> {"result": null, "id": 4}
    {"method": "GET_PROPERTY", "params": ["combined"], "id": 5}           -> {"result": true, "id": 5}

A refused request is answered ``{"error": {"code": N, "msg": "..."}, "id": ...}`` with
Binance's codes (0 unknown property, 1 invalid value type, 2 invalid request, 3 invalid
JSON), the message saying what to change. A subscription is all its streams or none.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from api.binance.errors import BinanceError
from api.binance.streams_names import InvalidStreamName, Stream, parse

if TYPE_CHECKING:
    from api.binance.streams_hub import BinanceStreams
    from api.binance.streams_market import StreamClient

STREAMS_PER_SOCKET_MAX = 1024      # Binance's
PARAMS_PER_REQUEST_MAX = 2 * STREAMS_PER_SOCKET_MAX
REQUEST_BYTES_MAX = 64 * 1024
REQUEST_ID_LENGTH_MAX = 64
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


class Refused(Exception):
    """Raised when a request is refused: answered with Binance's code and message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def error(code: int, msg: str, request_id: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


def handle(streams: BinanceStreams, client: StreamClient, raw: str | bytes) -> None:
    request_id = None
    try:
        if len(raw) > REQUEST_BYTES_MAX:
            raise Refused(2, f"Invalid request: at most {REQUEST_BYTES_MAX} bytes a message")
        try:
            request = json.loads(raw)
        except ValueError as exc:
            raise Refused(3, f"Invalid JSON: {exc}") from exc
        if not isinstance(request, dict):
            raise Refused(2, "Invalid request: send a JSON object with method, params and id")
        request_id = _request_id(request.get("id"))
        client.offer({"result": _answer(streams, client, request), "id": request_id})
    except Refused as refused:
        client.offer(error(refused.code, refused.msg, request_id))


def _request_id(value: Any) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and
                         0 <= value < 2 ** 63):
        return value
    if isinstance(value, str) and len(value) <= REQUEST_ID_LENGTH_MAX:
        return value
    raise Refused(2, "Invalid request: request ID must be an unsigned integer or a string "
                  f"of at most {REQUEST_ID_LENGTH_MAX} characters")


def _answer(streams: BinanceStreams, client: StreamClient, request: dict[str, Any]) -> Any:
    method, params = request.get("method"), request.get("params", [])
    if method not in METHODS:
        raise Refused(2, f"Invalid request: unknown method {method!r}, expected one of "
                      f"{', '.join(METHODS)}")
    if not isinstance(params, list) or len(params) > PARAMS_PER_REQUEST_MAX:
        raise Refused(2, f"Invalid request: params is a list of at most "
                      f"{PARAMS_PER_REQUEST_MAX} items")
    if method == "LIST_SUBSCRIPTIONS":
        return list(client.streams)
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        return _property(client, method, params)
    names = list(dict.fromkeys(params))
    if not all(isinstance(name, str) for name in names):
        raise Refused(2, "Invalid request: the params are stream names (strings)")
    if method == "UNSUBSCRIBE":
        for name in names:
            streams.market.remove(client, name)
        return None
    subscribe(streams, client, [n for n in names if n not in client.streams])
    return None


def subscribe(streams: BinanceStreams, client: StreamClient, names: list[str]) -> None:
    """All of ``names`` or none: each is checked (and its market found) first."""
    if len(client.streams) + len(names) > STREAMS_PER_SOCKET_MAX:
        raise Refused(2, f"Invalid request: at most {STREAMS_PER_SOCKET_MAX} streams a "
                      f"connection; this one has {len(client.streams)}")
    found = [_checked(streams, name) for name in names]
    for stream in found:
        if stream.kind in ("partial", "bookTicker") and stream.symbol is not None:
            # Follows the book here from now on: the read is the subscriber's, not the
            # event loop's (which then answers from memory).
            streams.books.snapshot(streams.services.symbols.get(stream.symbol).market.symbol)
        if client.ended is not None:
            return
        streams.market.add(client, stream)


def _checked(streams: BinanceStreams, name: str) -> Stream:
    try:
        stream = parse(name)
    except InvalidStreamName as invalid:
        raise Refused(2, f"Invalid request: {invalid}") from invalid
    if stream.symbol is not None:
        try:
            streams.services.symbols.get(stream.symbol)
        except BinanceError as unknown:
            raise Refused(2, f"Invalid request: no symbol {stream.symbol.lower()!r} "
                          f"(stream {name!r}); see GET /api/v3/exchangeInfo") from unknown
    return stream


def _property(client: StreamClient, method: str, params: list) -> Any:
    if not params or params[0] != "combined":
        raise Refused(0, "Unknown property")
    if method == "GET_PROPERTY":
        return client.combined
    if len(params) != 2 or not isinstance(params[1], bool):
        raise Refused(1, "Invalid value type: expected Boolean")
    client.combined = params[1]
    return None
