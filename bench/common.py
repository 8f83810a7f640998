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
