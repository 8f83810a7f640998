"""The cheap side of ``bench.ws``: many WebSocket subscribers on raw sockets in one gevent
process, so that the load generator costs little beside the server it measures.

Each subscriber opens its socket with a hand-written handshake, subscribes (``/v1/ws``:
``book:M`` and ``trades:M``; Binance: a combined URL of ``@trade`` and ``@depth@100ms``),
then reads frames and parses only those that carry trades (for their batch time) or that
end the socket (for their code). A stalled subscriber subscribes and never reads again
until the end: the server must cut it with ``slow_consumer``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from array import array  # noqa: E402
from datetime import datetime  # noqa: E402
from typing import Any  # noqa: E402

OPCODE_TEXT, OPCODE_CLOSE = 0x1, 0x8
RECEIVE_BYTES = 64 * 1024    # below malloc's mmap threshold: no mapping per read
STALLED_RECEIVE_BUFFER_BYTES = 4096
CONNECTS_AT_ONCE = 50
CONNECT_ATTEMPTS_MAX = 5
END_READ_SECONDS = 5          # a stalled socket's last read, to find why it ended


def handshake(sock: socket.socket, host: str, path: str) -> bytes:
    """The HTTP upgrade; answers what came after the response's headers."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
    return rest


def masked_text(payload: bytes) -> bytes:
    """A client's text frame (clients mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    header = bytes([0x80 | OPCODE_TEXT]) + (
        bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) +
        struct.pack("!H", length))
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


def frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """The whole frames at the start of ``buffer`` (removed from it); the server's frames
    are unmasked and unfragmented."""
    found, start = [], 0
    while len(buffer) - start >= 2:
        opcode, length = buffer[start] & 0x0F, buffer[start + 1] & 0x7F
        header = 2
        if length == 126:
            if len(buffer) - start < 4:
                break
            length, header = struct.unpack_from("!H", buffer, start + 2)[0], 4
        elif length == 127:
            if len(buffer) - start < 10:
                break
            length, header = struct.unpack_from("!Q", buffer, start + 2)[0], 10
        if len(buffer) - start < header + length:
            break
        found.append((opcode, bytes(buffer[start + header:start + header + length])))
        start += header + length
    del buffer[:start]
    return found


class Tally:
    """What one client process saw: each trade delivery's delay, and why sockets ended."""

    def __init__(self) -> None:
        self.delays = array("d")
        self.held = 0                 # readers subscribed at the start
        self.never_connected = 0
        self.ended: dict[str, int] = {}          # readers: code: how many
        self.stalled_ended: dict[str, int] = {}  # stalled ones: code: how many

    def end(self, stalled: bool, code: str) -> None:
        into = self.stalled_ended if stalled else self.ended
        into[code] = into.get(code, 0) + 1


def ended_code(opcode: int, payload: bytes) -> str | None:
    """The code a socket's end carries: an error message's, or the close frame's reason."""
    if opcode == OPCODE_CLOSE:
        reason = payload[2:].decode(errors="replace")
        return reason.split(":", 1)[0] or "closed"
    if opcode == OPCODE_TEXT and payload.startswith(b'{"type":"error"'):
        return json.loads(payload)["code"]
    return None


def trade_delays(payload: bytes, now: float) -> list[float]:
    """The delay of each trade a frame delivers (none if it carries no trade), read from
    the frame's bytes without a JSON parse: the native message's batch ``time`` (its
    trades counted by their prices), or the Binance trade's ``T``."""
    if payload.startswith(b'{"type":"trades"'):
        at = payload.index(b'"time":"') + 8
        sent = datetime.fromisoformat(payload[at:payload.index(b'"', at)].decode())
        return [now - sent.timestamp()] * payload.count(b'"price":')
    if b'"e":"trade"' in payload[:120]:
        at = payload.index(b'"T":') + 4
        return [now - int(payload[at:payload.index(b",", at)]) / 1000]
    return []


def run(host: str, port: int, market: str, protocol: str, readers: int,
        stalled: int) -> dict[str, Any]:
    """One client process: ``readers`` + ``stalled`` subscribers of ``protocol``. Prints
    "ready N" once all are subscribed, reads until SIGUSR1, then answers its figures."""
    import gevent
    import gevent.event
    import gevent.pool

    symbol = market.replace("-", "").lower()
    path = f"/stream?streams={symbol}@trade/{symbol}@depth@100ms" if protocol == "binance" \
        else "/v1/ws"
    subscribe = json.dumps({"op": "subscribe", "channels": [f"book:{market}",
                                                            f"trades:{market}"]}).encode()
    tally = Tally()
    sockets: list[tuple[socket.socket, bytearray, bool]] = []
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGUSR1, stop.set)

    def connect(is_stalled: bool) -> None:
        for attempt in range(CONNECT_ATTEMPTS_MAX):
            try:
                sock = socket.socket()
                if is_stalled:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                    STALLED_RECEIVE_BUFFER_BYTES)
                sock.connect((host, port))
                buffer = bytearray(handshake(sock, f"{host}:{port}", path))
                if protocol == "native":
                    sock.sendall(masked_text(subscribe))
                    subscribed = 0
                    while subscribed < 2:   # both channels, before any trade counts
                        chunk = sock.recv(RECEIVE_BYTES)
                        if not chunk:
                            raise ConnectionError("closed before subscribing")
                        buffer += chunk
                        subscribed += sum(p.startswith(b'{"type":"subscribed"')
                                          for _, p in frames(buffer))
                break
            except OSError:
                gevent.sleep(0.5 * (attempt + 1))
        else:
            tally.never_connected += 1
            return
        if not is_stalled:
            tally.held += 1
        sockets.append((sock, buffer, is_stalled))

    pool = gevent.pool.Pool(CONNECTS_AT_ONCE)
    for index in range(readers + stalled):
        pool.spawn(connect, index >= readers)
    pool.join()
    print("ready", tally.held, flush=True)

    def read(sock: socket.socket, buffer: bytearray, is_stalled: bool) -> None:
        if is_stalled:
            stop.wait()
            sock.settimeout(END_READ_SECONDS)
        try:
            while is_stalled or not stop.is_set():
                chunk = sock.recv(RECEIVE_BYTES)
                if not chunk:
                    tally.end(is_stalled, "closed")
                    return
                now = time.time()
                buffer += chunk
                for opcode, payload in frames(buffer):
                    code = ended_code(opcode, payload)
                    if code is not None:
                        tally.end(is_stalled, code)
                        return
                    if not is_stalled:
                        tally.delays.extend(trade_delays(payload, now))
        except OSError as error:
            if is_stalled or not stop.is_set():
                tally.end(is_stalled, type(error).__name__)
        finally:
            sock.close()

    started = resource.getrusage(resource.RUSAGE_SELF)
    greenlets = [gevent.spawn(read, *entry) for entry in sockets]
    stop.wait()
    used = resource.getrusage(resource.RUSAGE_SELF)
    for greenlet, (_, _, is_stalled) in zip(greenlets, sockets):
        if not is_stalled:
            greenlet.kill(block=False)
    gevent.joinall(greenlets, timeout=END_READ_SECONDS + 2)
    return {"protocol": protocol, "held": tally.held, "never_connected": tally.never_connected,
            "delays": base64.b64encode(tally.delays.tobytes()).decode(), "ended": tally.ended,
            "stalled_ended": tally.stalled_ended,
            "cpu_seconds": used.ru_utime + used.ru_stime - started.ru_utime -
            started.ru_stime}


if __name__ == "__main__":
    host, port, market, protocol, readers, stalled = sys.argv[1:]
    print(json.dumps(run(host, int(port), market, protocol, int(readers), int(stalled))),
          flush=True)
