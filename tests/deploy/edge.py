"""Debian's nginx, run with deploy/nginx's configuration rendered for test ports, and HTTP
clients that reach it from an address of their own (127.0.0.2...), as remote people would."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from deploy.nginx.certificates import self_signed
from deploy.nginx.render import Edge, write
from tests.processes import START_TIMEOUT_SECONDS, STOP_TIMEOUT_SECONDS

NGINX = "/usr/sbin/nginx"


class Nginx:
    def __init__(self, directory: Path, web_servers: list[str], http_port: int,
                 https_port: int, site_root: Path) -> None:
        assert shutil.which(NGINX), "Debian's nginx is needed: make test installs it"
        self.directory = directory
        self.certificate, key = self_signed(directory / "tls", "127.0.0.1")
        self.public_url = f"https://127.0.0.1:{https_port}"
        self.http_url = f"http://127.0.0.1:{http_port}"
        write(Edge(web_servers=tuple(web_servers), public_url=self.public_url,
                   certificate=str(self.certificate), certificate_key=str(key),
                   site_root=str(site_root), runtime_dir=str(directory),
                   server_name="127.0.0.1", listen_address="127.0.0.1", http_port=http_port,
                   https_port=https_port, edge_rate="2000r/s", edge_burst=2000,
                   worker_processes="1"), directory)
        self.process = subprocess.Popen(
            [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"),
             "-e", str(directory / "error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_for(https_port)

    def _wait_for(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"nginx never listened:\n{self.errors()}") from None
                time.sleep(0.1)

    def errors(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(STOP_TIMEOUT_SECONDS)


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def from_address(session: requests.Session, address: str, certificate: Path) -> None:
    """Make ``session`` connect from ``address`` (on loopback) and trust the test pair."""
    session.mount("https://", _FromAddress(address))
    session.mount("http://", _FromAddress(address))
    session.verify = str(certificate)
    session.trust_env = False        # REQUESTS_CA_BUNDLE would win over ``verify``
