"""Binance's stream protocol on our host: raw and combined connections, SUBSCRIBE,
UNSUBSCRIBE, LIST_SUBSCRIPTIONS and properties, the frames' exact values, the bounds,
and the clear errors of bad requests."""

from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

from tests.api.binance.conftest import new_trader


def ws_url(stack: str) -> str:
    return stack.replace("http://", "ws://")


def connect(stack: str, path: str) -> websocket.WebSocket:
    return websocket.create_connection(ws_url(stack) + path, timeout=10, suppress_origin=True)


def receive(socket: websocket.WebSocket, until, seconds: float = 10) -> dict:
    """The first frame for which ``until(frame)`` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = json.loads(socket.recv())
        if until(frame):
            return frame
    raise AssertionError("no such frame in time")


def test_subscribe_list_and_unsubscribe_answer_as_binance_does(stack, market):
    symbol = market.replace("-", "").lower()
    socket = connect(stack, "/ws")
    socket.send(json.dumps({"method": "SUBSCRIBE", "id": 1,
                            "params": [f"{symbol}@trade", f"{symbol}@depth@100ms"]}))
    assert json.loads(socket.recv()) == {"result": None, "id": 1}
    socket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
    assert json.loads(socket.recv()) == {"result": [f"{symbol}@trade", f"{symbol}@depth@100ms"],
                                         "id": 2}
    socket.send(json.dumps({"method": "UNSUBSCRIBE", "id": 3, "params": [f"{symbol}@trade"]}))
    assert json.loads(socket.recv()) == {"result": None, "id": 3}
    socket.send(json.dumps({"method": "GET_PROPERTY", "id": 4, "params": ["combined"]}))
    assert json.loads(socket.recv()) == {"result": False, "id": 4}
    socket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "five"}))
    assert json.loads(socket.recv()) == {"result": [f"{symbol}@depth@100ms"], "id": "five"}
    socket.close()


@pytest.mark.parametrize("request_, code, message", [
    ("not json", 3, "Invalid JSON"),
    ('{"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 7}', 2,
     "Invalid request: no symbol 'nosuch' (stream 'nosuch@trade')"),
    ('{"method": "SUBSCRIBE", "params": ["SYM@trade"], "id": 7}', 2,
     "Invalid request: 'SYM@trade' is not a stream name"),
    ('{"method": "SUBSCRIBE", "params": ["sym@kline_2m"], "id": 7}', 2,
     "Invalid request: 'sym@kline_2m': kline intervals are 1m, 5m, 15m, 1h, 4h, 1d"),
    ('{"method": "SUBSCRIBE", "params": ["sym@depth7"], "id": 7}', 2,
     "Invalid request: 'sym@depth7': no such stream"),
    ('{"method": "SUBSCRIBE", "params": "sym@trade", "id": 7}', 2,
     "Invalid request: params is a list"),
    ('{"method": "PUBLISH", "params": [], "id": 7}', 2,
     "Invalid request: unknown method 'PUBLISH'"),
    ('{"method": "LIST_SUBSCRIPTIONS", "id": -1}', 2,
     "Invalid request: request ID must be an unsigned integer"),
    ('{"method": "SET_PROPERTY", "params": ["combined", 1], "id": 7}', 1,
     "Invalid value type: expected Boolean"),
    ('{"method": "GET_PROPERTY", "params": ["colour"], "id": 7}', 0, "Unknown property"),
])
def test_bad_requests_get_binance_errors_that_say_what_to_change(stack, market, request_, code,
                                                                  message):
    symbol = market.replace("-", "").lower()
    socket = connect(stack, "/ws")
    socket.send(request_.replace("sym@", f"{symbol}@"))
    answer = json.loads(socket.recv())
    assert answer["error"]["code"] == code
    assert answer["error"]["msg"].startswith(message.replace("sym@", f"{symbol}@"))
    assert answer["id"] == (7 if '"id": 7' in request_ else None)
    socket.close()


def test_a_stream_named_in_the_url_that_does_not_exist_is_refused_then_closed(stack, market):
    socket = connect(stack, "/ws/nosuchsymbol@trade")
    assert json.loads(socket.recv()) == {"error": {"code": 2, "msg": (
        "Invalid request: no symbol 'nosuchsymbol' (stream 'nosuchsymbol@trade'); see GET "
        "/api/v3/exchangeInfo")}, "id": None}
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        socket.recv()
        socket.recv()
    socket.close()


def test_a_plain_http_request_to_a_stream_is_told_to_upgrade(stack):
    answer = requests.get(stack + "/ws/btcusdt@trade", timeout=10)
    assert answer.status_code == 400
    assert answer.json() == {"code": -1000,
                             "msg": "Connect with a WebSocket client (Upgrade: websocket)."}


def test_more_than_five_messages_a_second_are_refused_then_the_client_disconnected(stack):
    socket = connect(stack, "/ws")
    for n in range(5):   # a burst of five is read
        socket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
    assert [json.loads(socket.recv()) for _ in range(5)] == [
        {"result": [], "id": n} for n in range(5)]
    for n in range(5, 13):   # then refused, and told so, while the budget refills
        socket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": n}))
    answers = [json.loads(socket.recv()) for _ in range(8)]
    refused = [a for a in answers if "error" in a]
    assert len(refused) >= 6 and refused[0] == {"error": {"code": 2, "msg": (
        "Invalid request: at most 5 messages a second; this one was not read, retry after "
        f"{refused[0]['error']['msg'].split('after ')[1]}")}, "id": None}
    try:
        assert _ended_by_the_server(socket, [json.dumps(
            {"method": "LIST_SUBSCRIPTIONS", "id": n}) for n in range(40)])
    finally:
        socket.shutdown()   # close() skips a connection the server ended: its fd stays open


def _ended_by_the_server(socket, messages: list[str]) -> bool:
    """Whether the server ends the connection while ``messages`` are sent, or after."""
    try:   # more than 20 refusals outstanding: disconnected
        for message in messages:
            socket.send(message)
        while socket.recv():
            pass
    except websocket.WebSocketException:
        pass
    except OSError:   # closed while these were still being sent (a broken pipe)
        return True
    return not socket.connected


def test_more_than_1024_streams_on_one_connection_are_refused(stack, market):
    symbol = market.replace("-", "").lower()
    socket = connect(stack, "/ws")
    names = [f"{symbol}@kline_1m", f"{symbol}@trade"] + [f"{symbol}@depth{n}" for n in (5, 10)]
    socket.send(json.dumps({"method": "SUBSCRIBE", "params": names * 500, "id": 1}))
    assert json.loads(socket.recv()) == {"result": None, "id": 1}   # the same four, once
    socket.send(json.dumps({"method": "SUBSCRIBE", "id": 2,
                            "params": [f"s{n}@trade" for n in range(1021)]}))
    assert json.loads(socket.recv()) == {"error": {"code": 2, "msg": (
        "Invalid request: at most 1024 streams a connection; this one has 4")}, "id": 2}
    socket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
    try:       # the partial books subscribed to may come first (every 100 ms or 1 s)
        answer = json.loads(socket.recv())
        while "id" not in answer:
            answer = json.loads(socket.recv())
        assert answer == {"result": names, "id": 3}
    finally:
        socket.close()
        socket.shutdown()
