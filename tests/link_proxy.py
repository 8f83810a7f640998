"""A real proxy between unix sockets, byte for byte, that cuts or stalls every connection
through it on cue: the network between the processes and a server, as it fails.

* ``cut()``: every connection open now is closed on both sides (a switch rebooted); new
  ones are taken at once.
* ``stall(seconds)``: nothing moves either way, and no connection is taken, for that long
  (a link that drops every packet and then recovers); the bytes are then delivered.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

CHUNK_BYTES = 65536


class LinkProxy:
    def __init__(self, listen_path: Path, target_path: Path) -> None:
        self.target_path = target_path
        listen_path.parent.mkdir(parents=True, exist_ok=True)
        listen_path.unlink(missing_ok=True)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(listen_path))
        os.chmod(listen_path, 0o777)
        listen_path.parent.chmod(0o777)
        self._listener.listen(512)
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._links: set[tuple[socket.socket, socket.socket]] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="link-proxy").start()

    def cut(self) -> None:
        with self._lock:
            links, self._links = self._links, set()
        for link in links:
            _close(*link)

    def stall(self, seconds: float) -> None:
        self._flowing.clear()
        try:
            threading.Event().wait(seconds)
        finally:
            self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._flowing.wait()
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(str(self.target_path))
            except OSError:      # the server is down: so is this connection
                _close(client, server)
                continue
            link = (client, server)
            with self._lock:
                self._links.add(link)
            for source, sink in (link, link[::-1]):
                threading.Thread(target=self._pump, args=(source, sink, link),
                                 daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket,
              link: tuple[socket.socket, socket.socket]) -> None:
        try:
            while True:
                data = source.recv(CHUNK_BYTES)
                if not data:
                    break
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._links.discard(link)
        _close(*link)


def _close(*sockets: socket.socket) -> None:
    for each in sockets:
        try:
            each.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        each.close()
