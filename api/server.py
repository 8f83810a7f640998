"""The ``web`` process: Bottle on gevent's WSGI server, WebSocket-capable.

gevent patches the standard library before anything else is imported, and
psycogreen makes psycopg2 yield to other greenlets while it waits on PostgreSQL.
"""

from gevent import monkey

monkey.patch_all()

from psycogreen.gevent import patch_psycopg  # noqa: E402

patch_psycopg()

import gc  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

import config
from observability import logs  # noqa: E402
from api.app import create_app  # noqa: E402
from api.request_headers import RequestHeaders  # noqa: E402
from db import engine as engines  # noqa: E402

SHUTDOWN_GRACE_SECONDS = 10
# The reads bots poll (balances, orders), each one statement: a request waits for one of
# these connections rather than opening one past them. Connections past a pool's size are
# closed on return, each a PostgreSQL backend started and ended per request: with 16
# callers on a pool of 6, two thirds of PostgreSQL's CPU per read.
READER_CONNECTIONS = 16
log = logging.getLogger("api.server")


class Handler(WebSocketHandler):
    """gevent's handler, with TCP_NODELAY (gevent writes headers and body apart; without
    it, Nagle and delayed ACKs stall each keep-alive response by about 40 ms), a
    response's headers and first body bytes in one send, the request's headers read by
    ``api.request_headers``, and no access log."""

    def __init__(self, sock, address, server, rfile=None):  # type: ignore[no-untyped-def]
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server, rfile)

    def _write_with_headers(self, data):  # type: ignore[no-untyped-def]
        # gevent sends the headers and the first of the body apart: two segments, and two
        # wake-ups of the client, per response. Gathered, they go in one send.
        send, pending = self._sendall, bytearray()
        self._sendall = pending.extend
        try:
            super()._write_with_headers(data)
        finally:
            del self._sendall
        send(pending)

    def log_request(self) -> None:
        """No line per request: formatting it cost more than the request's own work here
        (errors, 5xx with their request id, are logged by the API)."""

    def MessageClass(self, rfile, *_):  # type: ignore[no-untyped-def] # noqa: N802 (gevent's)
        return RequestHeaders.read(rfile)


def main() -> None:
    logs.configure("web")
    logging.getLogger("geventwebsocket.handler").setLevel(logging.WARNING)
    settings = config.load()
    engine = engines.create(settings.database_url, key_lookups=True)
    autocommit = engines.create(settings.database_url, key_lookups=True, autocommit=True,
                                pool_size=settings.order_writers + 4)
    # Public market data may lag a little: from the replica when one is named.
    market_data = engine if settings.database_replica_url == settings.database_url else \
        engines.create(settings.database_replica_url, key_lookups=True)
    reader = engines.create(settings.database_url, key_lookups=True, autocommit=True,
                            pool_size=READER_CONNECTIONS, overflow_max=0)
    app, _ = create_app(settings, engine, autocommit, market_data, reader, follow_feed=True)
    # What start-up made lives as long as the process: kept out of the collector's full
    # passes, which otherwise walked it all (about 80 ms here, every request waiting).
    gc.freeze()
    server = WSGIServer((settings.bind_host, settings.port), app,
                        handler_class=Handler, log=None)

    def stop() -> None:
        log.info("stopping: finishing requests for up to %ss", SHUTDOWN_GRACE_SECONDS)
        server.stop(timeout=SHUTDOWN_GRACE_SECONDS)

    gevent.signal_handler(signal.SIGTERM, stop)
    gevent.signal_handler(signal.SIGINT, stop)
    log.info("listening on http://%s:%s", settings.bind_host, settings.port)
    server.serve_forever()
    engine.dispose()
    market_data.dispose()


if __name__ == "__main__":
    main()
