"""One WebSocket's two loops, whatever protocol it speaks (``/v1/ws``, Binance's streams).

A reader takes the client's messages and hands each to the protocol. What the socket is
sent waits in its outbox (``api.ws_outbox``) as frames encoded once: the process's flusher
writes them as they come, and the socket's writer sends what the kernel could not take
at once, a heartbeat when it is quiet, and its end. A client that does not keep up (too
many frames waiting, or the oldest waiting too long) is ended with ``slow_consumer``
(``Client.offer_frame``); a socket the server ends sends its farewell (if its protocol
has one), then the close, and is cut if the client does not answer it.
"""

from __future__ import annotations

import socket as sockets
import time
from typing import Any, Callable

import gevent
from geventwebsocket.exceptions import WebSocketError

from api import ws_frames, ws_limits
from api.ws_outbox import Outbox
from observability import metrics

POLICY_VIOLATION = 1008          # the close status of a socket the server ends
CLOSE_GRACE_SECONDS = 2           # after the close frame, the client's time to answer it
LAG_MAX_SECONDS = 2.0            # the oldest frame waiting longer: a slow consumer (default)
SEND_BUFFER_BYTES = 16 * 1024     # the kernel's send buffer of a socket (it doubles it)
Farewell = Callable[[str, str], "dict[str, Any] | None"]   # (code, message) -> last message


class Client:
    """One socket's queue, message budget and end; ``farewell_of`` builds its last
    message in its protocol's shape (None: only the close frame, with the reason)."""

    def __init__(self, queue_max: int, budget: ws_limits.MessageBudget,
                 farewell_of: Farewell | None = None,
                 lag_max_seconds: float = LAG_MAX_SECONDS) -> None:
        self.outbox = Outbox(queue_max, lag_max_seconds)
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
        """Queue a message of this socket's own (encoded here)."""
        if self.ended is None:
            self.offer_frame(ws_frames.text(message))

    def offer_frame(self, frame: bytes) -> None:
        """Queue a frame encoded once for every socket that hears it."""
        if self.ended is None and not self.outbox.put(frame):
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
        self.outbox.drop()
        self.outbox.wake.set()  # the writer sends the end


def native_farewell(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def serve(socket: Any, client: Client, clients: set, handle: Callable[[str | bytes], None],
          write: Callable[[], None]) -> None:
    """Read ``socket`` until it closes, handing each message to ``handle`` while the
    client lasts; ``write`` runs beside, in its own greenlet."""
    clients.add(client)
    connection = socket.handler.socket
    # A bounded kernel buffer (the kernel doubles it): a client that stops reading fills
    # it soon, then its outbox, and is cut; unbounded, it would grow to megabytes first.
    connection.setsockopt(sockets.SOL_SOCKET, sockets.SO_SNDBUF, SEND_BUFFER_BYTES)
    client.outbox.attach(connection._sock)   # gevent's raw non-blocking socket
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


def write(socket: Any, client: Client, idle_seconds: float, idle_frame: bytes) -> None:
    """Send what the flusher could not (``api.ws_outbox``); ``idle_frame`` after
    ``idle_seconds`` with nothing written; at the end, the farewell and the close (with the
    reason), then the cut."""
    outbox, send = client.outbox, socket.handler.socket.sendall
    try:
        while client.ended is None and not outbox.broken:
            woken = outbox.wake.wait(timeout=idle_seconds)
            outbox.wake.clear()
            if client.ended is not None or outbox.broken:
                break
            if not woken and time.monotonic() - outbox.last_written >= idle_seconds:
                client.offer_frame(idle_frame)
            while outbox.backlogged and client.ended is None:
                data = outbox.take()
                if data is None:
                    break
                send(data)      # waits for the kernel's room, other greenlets running
                outbox.written()
        if outbox.broken or client.ended is None:
            return
        rest = outbox.take()   # the end of a frame partly written, if any
        if rest:
            send(rest)
        if client.farewell is not None:
            send(ws_frames.text(client.farewell))
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
        socket.handler.socket.sendall(ws_frames.close(status, reason))
    except OSError:
        pass   # already gone
    socket.closed = True   # as its close() marks it: nothing more is sent


def cut(socket: Any) -> None:
    """Shut the connection of a socket whose client did not answer the close frame."""
    connection = getattr(getattr(socket, "handler", None), "socket", None)
    if connection is not None:
        connection.shutdown(sockets.SHUT_RDWR)
