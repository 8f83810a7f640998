"""One WebSocket's two loops, whatever protocol it speaks (``/v1/ws``, Binance's streams).

A reader takes the client's messages and hands each to the protocol; a writer sends
what the socket's bounded queue holds. A client that does not keep up fills its queue
and is ended (``Client.offer``); a socket the server ends sends its farewell (if its
protocol has one), then the close, and is cut if the client does not answer it.
"""

from __future__ import annotations

import json
import socket as sockets
import struct
from typing import Any, Callable

import gevent
import gevent.queue
from geventwebsocket.exceptions import WebSocketError

from api import ws_limits
from observability import metrics

POLICY_VIOLATION = 1008          # the close status of a socket the server ends
CLOSE_REASON_BYTES_MAX = 120     # a control frame's payload is at most 125 bytes
CLOSE_GRACE_SECONDS = 2           # after the close frame, the client's time to answer it
Farewell = Callable[[str, str], "dict[str, Any] | None"]   # (code, message) -> last message


class Client:
    """One socket's queue, message budget and end; ``farewell_of`` builds its last
    message in its protocol's shape (None: only the close frame, with the reason)."""

    def __init__(self, queue_max: int, budget: ws_limits.MessageBudget,
                 farewell_of: Farewell | None = None) -> None:
        self.queue: gevent.queue.Queue = gevent.queue.Queue(maxsize=queue_max)
        self.channels: set[str] = set()
        self.grant: Any = None
        self.budget = budget
        self.farewell: dict[str, Any] | None = None   # the last message, then the close
        self.ended: tuple[str, str] | None = None      # (code, message) once ended
        self._farewell_of = farewell_of or native_farewell

    @property
    def user_id(self) -> int | None:
        return self.grant.user_id if self.grant is not None else None

    def offer(self, message: dict[str, Any] | list[Any]) -> None:
        if self.ended is not None:
            return
        try:
            self.queue.put_nowait(message)
        except gevent.queue.Full:
            self.end("slow_consumer", "too many messages waiting: reconnect and resume")

    def end(self, code: str, message: str) -> None:
        """End this socket: the farewell is the last message sent (what is queued is
        dropped), and from now on nothing more is queued, private or public."""
        if self.ended is not None:
            return
        self.ended = (code, message)
        self.farewell = self._farewell_of(code, message)
        self.grant = None
        self.channels = set()
        metrics.WS_SOCKETS_ENDED.labels(code).inc()
        try:
            self.queue.put_nowait(None)  # wakes the writer if it waits
        except gevent.queue.Full:
            pass  # it is not waiting, and sees the end before its next message


def native_farewell(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def serve(socket: Any, client: Client, clients: set, handle: Callable[[str | bytes], None],
          write: Callable[[], None]) -> None:
    """Read ``socket`` until it closes, handing each message to ``handle`` while the
    client lasts; ``write`` runs beside, in its own greenlet."""
    clients.add(client)
    writer = gevent.spawn(write)
    try:
        while not writer.dead:
            try:
                raw = socket.receive()
            except WebSocketError:  # closed by the writer
                break
            if raw is None:
                break
            if client.ended is None:
                handle(raw)
    finally:
        clients.discard(client)
        writer.kill()


def write(socket: Any, client: Client, idle_seconds: float,
          idle: Callable[[Any], None]) -> None:
    """Send the client's queue; ``idle(socket)`` after ``idle_seconds`` with nothing to
    send; at the end, the farewell and the close (with the reason), then the cut."""
    try:
        while client.ended is None:
            try:
                message = client.queue.get(timeout=idle_seconds)
            except gevent.queue.Empty:
                idle(socket)
                continue
            if message is not None and client.ended is None:
                socket.send(json.dumps(message, separators=(",", ":")))
        if client.farewell is not None:
            socket.send(json.dumps(client.farewell))
        code, reason = client.ended
        close(socket, 1000 if client.farewell is not None else POLICY_VIOLATION,
              f"{code}: {reason}")
        gevent.sleep(CLOSE_GRACE_SECONDS)  # the reader ends first if the client answers
        cut(socket)
    except Exception:  # the socket closed under us: the reader ends the session
        return


def close(socket: Any, status: int, reason: str) -> None:
    """The close frame, with its status and reason: gevent-websocket's own ``close`` sends
    neither (it turns a bytes payload into its repr)."""
    try:
        socket.send_frame(struct.pack("!H", status) + reason.encode()[:CLOSE_REASON_BYTES_MAX],
                          socket.OPCODE_CLOSE)
    except WebSocketError:
        pass   # already gone
    socket.closed = True   # as its close() marks it: nothing more is sent


def cut(socket: Any) -> None:
    """Shut the connection of a socket whose client did not answer the close frame."""
    connection = getattr(getattr(socket, "handler", None), "socket", None)
    if connection is not None:
        connection.shutdown(sockets.SHUT_RDWR)
