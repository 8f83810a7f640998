"""The WebSocket fan-out on a real ``web`` process fed by the real Redis: a message is
encoded once for all the subscribers of its channel, and a consumer that stops reading
is cut with ``slow_consumer`` while one that reads, on the same channel, gets everything
in order."""

import json
import socket as sockets
import threading
import time

import redis
import websocket

from tests.api.conftest import start_web
from tests.api.test_ws import connect, receive, send
from tests.trading import create_market

EVENTS = 3000
CHUNK = 100                     # events published before the readers catch up
QUEUE_MAX = 200                 # frames waiting beyond the kernel's buffer
STALLED_RECEIVE_BUFFER_BYTES = 4096


def trades_event(market, number):
    return {"market": market, "time": f"2026-12-03T00:00:00.{number:06d}+00:00",
            "book": {"sequence": number + 1, "prev_sequence": number, "changes": [],
                     "checksum": 0},
            "trades": [{"id": number, "price": "100.00", "quantity": "0.01",
                        "taker_side": "buy", "note": "x" * 300}]}


def expected_text(market, number):
    """What every subscriber of trades:M is sent for ``trades_event``: compact JSON."""
    event = trades_event(market, number)
    return json.dumps({"type": "trades", "channel": f"trades:{market}", "time": event["time"],
                       "trades": event["trades"]}, separators=(",", ":"))


def subscribed(base_url, market, **options):
    socket = connect(base_url, **options)
    send(socket, op="subscribe", channels=[f"trades:{market}"])
    receive(socket, "subscribed")
    return socket


def read_trades(socket, count, into):
    """The text of each trades message, until ``count`` of them or the socket's end."""
    try:
        while len(into) < count:
            text = socket.recv()
            if text.startswith('{"type":"trades"'):
                into.append(text)
            elif '"type":"error"' in text:
                into.append(text)
                return
    except websocket.WebSocketException:
        return


def until_ended(socket):
    """Read a socket that stopped reading until its server's last message: its code."""
    try:
        while True:
            message = json.loads(socket.recv())
            if message.get("type") == "error":
                return message["code"]
    except websocket.WebSocketConnectionClosedException:
        return "closed without an error"


def test_a_stalled_consumer_is_cut_while_readers_of_its_channel_get_every_message_once_encoded(
        settings, admin_engine, tmp_path):
    web, base_url = start_web(tmp_path, WS_CLIENT_QUEUE_MAX=str(QUEUE_MAX))
    try:
        market = create_market(admin_engine)
        readers = [subscribed(base_url, market) for _ in range(3)]
        stalled = subscribed(base_url, market, sockopt=[
            (sockets.SOL_SOCKET, sockets.SO_RCVBUF, STALLED_RECEIVE_BUFFER_BYTES)])
        received = [[] for _ in readers]
        threads = [threading.Thread(target=read_trades, args=(socket, EVENTS, into))
                   for socket, into in zip(readers, received)]
        for thread in threads:
            thread.start()
        publisher = redis.Redis.from_url(settings.redis_url)
        for start in range(0, EVENTS, CHUNK):
            # A chunk, then the readers catch up: they keep up, the stalled one does not.
            pipe = publisher.pipeline(transaction=False)
            for number in range(start, start + CHUNK):
                pipe.publish(f"market:{market}", json.dumps(trades_event(market, number)))
            pipe.execute()
            deadline = time.monotonic() + 30   # against a hang, not a bound that is tested
            while any(len(into) < start + CHUNK and thread.is_alive()
                      for into, thread in zip(received, threads)) and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
        for thread in threads:
            thread.join(30)

        assert until_ended(stalled) == "slow_consumer"
        expected = [expected_text(market, number) for number in range(EVENTS)]
        for into in received:   # every message, in order, the same bytes for each reader
            assert into == expected
        for socket in [*readers, stalled]:
            socket.close()
    finally:
        assert web.stop() == 0
