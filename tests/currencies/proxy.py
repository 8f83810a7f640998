"""A real HTTP proxy in front of a real node, refusing the JSON-RPC methods a test names.

It plays a node, or the provider in front of one, that answers HTTP 401 or 403 to some
calls: either without passing them on, or after passing them on (the node acted, and
we are told it refused). Every other call goes to the node and its answer comes back
unchanged, credentials included.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import requests

FORWARD_TIMEOUT_SECONDS = 30


class RefusingProxy:
    def __init__(self, node_url: str) -> None:
        parts = urlsplit(node_url)
        self._upstream = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}",
                                     parts.path, "", ""))
        self.refused: frozenset[str] = frozenset()
        self.status = 403
        self.after_forwarding = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        credentials = f"{parts.username}:{parts.password}@" if parts.username else ""
        self.url = urlunsplit((parts.scheme, f"{credentials}127.0.0.1:{self.server.server_port}",
                               parts.path, "", ""))
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def refuse(self, methods: set[str], status: int = 403, after_forwarding: bool = False):
        """From now on, answer ``status`` to any request calling one of ``methods``."""
        self.refused, self.status = frozenset(methods), status
        self.after_forwarding = after_forwarding

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def _forward(self, body: bytes, authorization: str | None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        return requests.post(self._upstream, data=body, headers=headers,
                             timeout=FORWARD_TIMEOUT_SECONDS)

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                decoded = json.loads(body)
                calls = decoded if isinstance(decoded, list) else [decoded]
                authorization = self.headers.get("Authorization")
                if any(call.get("method") in proxy.refused for call in calls):
                    if proxy.after_forwarding:
                        proxy._forward(body, authorization)
                    self._answer(proxy.status, b"refused", "text/plain")
                    return
                answer = proxy._forward(body, authorization)
                self._answer(answer.status_code, answer.content,
                             answer.headers.get("Content-Type", "application/json"))

            def _answer(self, status: int, content: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args) -> None:
                pass

        return Handler
