"""Debian's nginx run on its own with the rendered configuration (no /etc/nginx): the tests
and the benchmark put it in front of web processes on free ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from deploy.nginx.certificates import self_signed
from deploy.nginx.render import Edge, write

NGINX = "/usr/sbin/nginx"
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 20


class Nginx:
    def __init__(self, directory: Path, web_servers: list[str], http_port: int,
                 https_port: int, site_root: Path, **options: object) -> None:
        """nginx on 127.0.0.1 with a self-signed pair, ``options`` as ``Edge``'s."""
        if not shutil.which(NGINX):
            raise FileNotFoundError("Debian's nginx is needed (make test installs it)")
        self.directory = directory
        self.certificate, key = self_signed(directory / "tls", "127.0.0.1")
        self.public_url = f"https://127.0.0.1:{https_port}"
        self.http_url = f"http://127.0.0.1:{http_port}"
        write(Edge(web_servers=tuple(web_servers), public_url=self.public_url,
                   certificate=str(self.certificate), certificate_key=str(key),
                   site_root=str(site_root), runtime_dir=str(directory),
                   server_name="127.0.0.1", listen_address="127.0.0.1", http_port=http_port,
                   https_port=https_port, **options), directory)  # type: ignore[arg-type]
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
                    raise RuntimeError(f"nginx never listened:\n{self.errors()}") from None
                time.sleep(0.1)

    def errors(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(STOP_TIMEOUT_SECONDS)
