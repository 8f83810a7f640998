"""A real TCP proxy in front of the embedded PostgreSQL that cuts connections on cue.

It reads the wire protocol just enough to see each simple query (psycopg2 sends nothing
else) and each ReadyForQuery, so a test can cut a connection at an exact point:

* ``cut_before(match)``: the query is never forwarded; both sides are closed. The server
  never sees it (a COMMIT that never arrived: the transaction rolls back).
* ``cut_after_answer(match)``: the query is forwarded, the server's whole answer is read
  and dropped, and then both sides are closed (a COMMIT that committed and whose answer
  the client never got).

``match`` gets the text of the connection's transaction so far, the current query last.
With ``then_down``, the proxy also closes every connection and refuses new ones until
``up()``: the database is unreachable for the retry. ``queries`` lists every query seen,
one per round trip.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.engine import make_url

_ENDS_TRANSACTION = re.compile(r"\b(COMMIT|ROLLBACK)\b", re.IGNORECASE)
_TRANSACTION_TEXT_MAX = 65536
Match = Callable[[str], bool]


def socket_path_of(url: str) -> str:
    """The unix socket of a ``postgresql://user@/db?host=/dir`` URL."""
    return f"{make_url(url).query['host']}/.s.PGSQL.5432"


@dataclass
class Cut:
    before: bool
    match: Match
    then_down: bool
    done: threading.Event = field(default_factory=threading.Event)


class _Link:
    """One client connection and its server connection."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.cut_at_ready: Cut | None = None
        self.transaction = ""
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()
        for side in (self.client, self.server):
            try:
                side.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            side.close()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_typed(sock: socket.socket) -> tuple[bytes, bytes]:
    header = _read_exactly(sock, 5)
    (length,) = struct.unpack("!I", header[1:])
    return header, _read_exactly(sock, length - 4)


class CuttingProxy:
    def __init__(self, upstream_socket_path: str) -> None:
        self.upstream = upstream_socket_path
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._cuts: list[Cut] = []
        self._links: set[_Link] = set()
        self._down = False
        self._closing = False
        self.queries: list[str] = []
        threading.Thread(target=self._accept_forever, daemon=True).start()

    def url(self, url: str) -> str:
        """``url`` (a unix-socket URL of the embedded server) through this proxy."""
        parsed = make_url(url)
        return parsed.set(host="127.0.0.1", port=self.port, query={
            "sslmode": "disable", "gssencmode": "disable"}).render_as_string(
                hide_password=False)

    def cut_before(self, match: Match, then_down: bool = False) -> Cut:
        return self._arm(Cut(True, match, then_down))

    def cut_after_answer(self, match: Match, then_down: bool = False) -> Cut:
        return self._arm(Cut(False, match, then_down))

    def _arm(self, cut: Cut) -> Cut:
        with self._lock:
            self._cuts.append(cut)
        return cut

    def down(self) -> None:
        """Close every connection and refuse new ones."""
        for link in self._take_down():
            link.close()

    def _take_down(self) -> list[_Link]:
        with self._lock:
            self._down = True
            links, self._links = list(self._links), set()
        return links

    def up(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._closing = True
        self.down()
        self._listener.close()

    def _accept_forever(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.upstream)
            link = _Link(client, server)
            with self._lock:    # refused or counted at once: down() closes all it counted
                refused = self._down
                if not refused:
                    self._links.add(link)
            if refused:
                link.close()
                continue
            threading.Thread(target=self._pump_queries, args=(link,), daemon=True).start()
            threading.Thread(target=self._pump_answers, args=(link,), daemon=True).start()

    def _take_cut(self, transaction: str) -> Cut | None:
        with self._lock:
            for cut in self._cuts:
                if cut.match(transaction):
                    self._cuts.remove(cut)
                    return cut
        return None

    def _finish(self, link: _Link, cut: Cut) -> None:
        """Close ``link`` (and, ``then_down``, every other one) once the cut is marked
        done and the proxy down: the client, seeing its connection end, reconnects only
        to be refused, and finds the cut done."""
        with self._lock:
            self._links.discard(link)
        others = self._take_down() if cut.then_down else []
        cut.done.set()
        for closing in [link, *others]:
            closing.close()

    def _pump_queries(self, link: _Link) -> None:
        try:
            (length,) = struct.unpack("!I", _read_exactly(link.client, 4))
            startup = _read_exactly(link.client, length - 4)
            link.server.sendall(struct.pack("!I", length) + startup)
            while True:
                header, body = _read_typed(link.client)
                if header[:1] == b"Q":
                    query = body[:-1].decode("utf-8", "replace")
                    with self._lock:
                        self.queries.append(query)
                    link.transaction = (link.transaction + "\n" + query)[-_TRANSACTION_TEXT_MAX:]
                    cut = self._take_cut(link.transaction)
                    if _ENDS_TRANSACTION.search(query):
                        link.transaction = ""
                    if cut is not None and cut.before:
                        self._finish(link, cut)
                        return
                    link.cut_at_ready = cut
                link.server.sendall(header + body)
        except (ConnectionError, OSError):
            link.close()

    def _pump_answers(self, link: _Link) -> None:
        try:
            while True:
                header, body = _read_typed(link.server)
                cut = link.cut_at_ready
                if cut is None:
                    link.client.sendall(header + body)
                elif header[:1] == b"Z":    # ReadyForQuery: the whole answer was read
                    self._finish(link, cut)
                    return
        except (ConnectionError, OSError):
            link.close()
