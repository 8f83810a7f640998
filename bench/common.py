"""What every benchmark needs: a database of its own, and processes to wait for."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import psycopg2
import requests

import config
from db.migrate import upgrade
from embedded.services import ensure_database
from ledger.accounts import forget_cached_accounts

START_TIMEOUT_SECONDS = 30


def recreate(settings: config.Settings) -> None:
    """Drop and create the benchmark's database (``EMBEDDED_DATABASE``), migrated."""
    name = urlparse(settings.database_admin_url).path.lstrip("/")
    maintenance = psycopg2.connect(settings.database_admin_url.replace(f"/{name}?", "/postgres?"))
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    maintenance.close()
    ensure_database(settings)
    upgrade()
    forget_cached_accounts()


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class CpuMeter:
    """CPU time used by each kind of process on the machine between ``start`` and ``stop``,
    with that of their children that ended meanwhile (PostgreSQL's backends that closed
    count too, by the postmaster's)."""

    KINDS = (("api.server", "web"), ("workers.matching.actor", "matcher"), ("scheduler", "scheduler"),
             ("multiprocessing", "load generator"), ("postgres", "postgres"),
             ("redis-server", "redis"))

    def __init__(self) -> None:
        self._start: dict[int, tuple[str, float]] = {}
        self.used: dict[str, float] = {}

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        import psutil
        found = {}
        for process in psutil.process_iter(["cmdline", "cpu_times"]):
            command = " ".join(process.info["cmdline"] or [])
            times = process.info["cpu_times"]
            kind = next((k for pattern, k in self.KINDS if pattern in command), None)
            if kind is not None and times is not None:
                found[process.pid] = (kind, times.user + times.system + times.children_user +
                                      times.children_system)
        return found

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> None:
        self.used = {}
        for pid, (kind, seconds) in self._snapshot().items():
            spent = seconds - self._start.get(pid, (kind, 0.0))[1]
            self.used[kind] = self.used.get(kind, 0.0) + spent

    def report(self, per: int, unit: str) -> str:
        return ", ".join(f"{kind} {seconds * 1000 / per:.2f}" for kind, seconds in
                         sorted(self.used.items(), key=lambda item: -item[1])) + \
            f" (ms of CPU per {unit})"
