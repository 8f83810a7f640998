"""What waits to be written to one WebSocket, and the one greenlet that writes every
socket's: frames encoded once (``api.ws_frames``) are queued by reference, and once per
turn of the event loop each socket that has any gets them in one ``send``.

That send is made on the raw non-blocking socket: it takes what the kernel's buffer has
room for, at the cost of one system call, with no greenlet switch, no timeout and no
encoding per socket. What it could not take (a client that reads slowly, or not at all)
is left to the socket's own writer (``api.ws_sockets.write``), which waits for the
kernel's room; meanwhile new frames wait here, and a socket whose oldest waiting frame
is older than ``lag_max_seconds``, or that has ``frames_max`` waiting, is a slow consumer:
its client cuts it (``api.ws_sockets.Client.offer_frame``). So the slowest are cut, and
the time they would take is not taken from the others.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import gevent.event


class Outbox:
    """One socket's waiting frames. ``connection`` is the raw socket (None until the
    socket is served: frames wait until then)."""

    __slots__ = ("frames", "since", "in_flight", "in_flight_since", "backlogged", "marked",
                 "connection", "broken", "partial", "wake", "last_written", "frames_max",
                 "lag_max_seconds")

    def __init__(self, frames_max: int, lag_max_seconds: float) -> None:
        self.frames: list[bytes] = []
        self.since = 0.0              # when the oldest of ``frames`` was queued (monotonic)
        self.in_flight = 0            # frames the writer is sending, not yet all written
        self.in_flight_since = 0.0
        self.backlogged = False       # the writer owns the socket until it has caught up
        self.marked = False           # in the flusher's list for this turn
        self.connection: Any = None
        self.broken = False
        self.partial = False          # frames[0] is the end of a frame partly written
        self.wake = gevent.event.Event()   # the writer's: a backlog, or the end
        self.last_written = time.monotonic()
        self.frames_max, self.lag_max_seconds = frames_max, lag_max_seconds

    def put(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and nothing queued) when the client is too far behind."""
        now = time.monotonic()
        if self.frames or self.in_flight:
            oldest = self.in_flight_since if self.in_flight else self.since
            if len(self.frames) + self.in_flight >= self.frames_max or \
                    now - oldest > self.lag_max_seconds:
                return False
        if not self.frames:
            self.since = now
        self.frames.append(frame)
        if not self.backlogged and not self.marked and self.connection is not None:
            FLUSHER.mark(self)
        return True

    def attach(self, connection: Any) -> None:
        """The raw socket to write to; what waited is written on the next turn."""
        self.connection = connection
        if self.frames:
            FLUSHER.mark(self)

    def drop(self) -> None:
        """Forget what waits (the socket ends: its farewell is all it is sent after), but
        for the end of a frame partly written, which the stream needs whole."""
        self.frames = self.frames[:1] if self.partial else []

    def flush(self) -> None:
        """One non-blocking send of everything waiting; the rest to the writer."""
        if self.backlogged or not self.frames or self.broken:
            return
        frames = self.frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        try:
            sent = self.connection.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:   # the connection is gone: the reader ends the session
            self.broken, self.frames = True, []
            self.wake.set()
            return
        if sent == len(data):
            self.frames = []
            self.last_written = time.monotonic()
            return
        # The kernel's buffer is full: the writer sends the rest when there is room.
        self.frames, self.partial = _unsent(frames, sent), True
        self.backlogged = True
        self.wake.set()

    def take(self) -> bytes | None:
        """For the writer: everything waiting, now in flight (None: caught up)."""
        if not self.frames:
            self.backlogged, self.in_flight = False, 0
            return None
        frames, self.frames, self.partial = self.frames, [], False
        self.in_flight, self.in_flight_since = len(frames), self.since
        return b"".join(frames)

    def written(self) -> None:
        self.in_flight = 0
        self.last_written = time.monotonic()


def _unsent(frames: list[bytes], sent: int) -> list[bytes]:
    """What of ``frames`` was not written when ``sent`` bytes of them were: the end of the
    frame cut, then the whole ones after it."""
    for index, frame in enumerate(frames):
        if sent < len(frame):
            return [frame[sent:], *frames[index + 1:]]
        sent -= len(frame)
    return []


class Flusher:
    """The process's one writer of waiting frames, once per turn of the event loop."""

    def __init__(self) -> None:
        self.marked: list[Outbox] = []
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None

    def mark(self, outbox: Outbox) -> None:
        outbox.marked = True
        self.marked.append(outbox)
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            marked, self.marked = self.marked, []
            for outbox in marked:
                outbox.marked = False
                outbox.flush()


FLUSHER = Flusher()
