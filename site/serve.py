"""The ``site`` process: serves the website's static files, and nothing else.

The site holds no secret and no state. ``/config.js`` tells the browser where the
API is; everything else is a file from ``site/static``. Run as a script
(``python site/serve.py``): ``site`` is also the name of a standard module.
"""

from __future__ import annotations

import functools
import os
import http.server
import signal
import sys
import threading
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
sys.path.insert(0, str(STATIC_DIR.parent.parent))

import config  # noqa: E402
from observability import logs, metrics  # noqa: E402


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    api_public_url = ""

    def do_GET(self) -> None:  # noqa: N802  (the standard library's name)
        if self.path.split("?")[0] == "/config.js":
            body = f"window.EXCHANGE_API = {self.api_public_url!r};\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         f"default-src 'self'; img-src 'self' data:; "
                         f"connect-src 'self' {self.api_public_url} "
                         f"{self.api_public_url.replace('http', 'ws', 1)}")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    settings = config.load()
    logs.configure("site")
    if os.environ.get("PORT") != str(settings.site_port):
        metrics.serve_from_env(settings.bind_host)        # process metrics on the runner's PORT
    SiteHandler.api_public_url = settings.api_public_url
    handler = functools.partial(SiteHandler, directory=str(STATIC_DIR))
    server = http.server.ThreadingHTTPServer((settings.bind_host, settings.site_port), handler)
    stop = lambda *_: threading.Thread(target=server.shutdown).start()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"site on http://{settings.bind_host}:{settings.site_port}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
