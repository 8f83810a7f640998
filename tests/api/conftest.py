"""A real ``web`` process on the test database, and users to call it as."""

from __future__ import annotations

import itertools
import secrets
import time

import pytest
import redis

from api.rate_counts import SYNC_SECONDS
from tests.api.client import Client, SignedClient
from tests.processes import Process, free_port, wait_for_http

PASSWORD = "correct horse battery staple"
_numbers = itertools.count()


def start_web(log_dir, **env: str) -> tuple[Process, str]:
    port = free_port()
    web = Process("web", log_dir, PORT=str(port), **env)
    base_url = f"http://127.0.0.1:{port}"
    # Ready: its database and Redis answered (/healthz answers before either is reached).
    wait_for_http(base_url + "/readyz", web)
    return web, base_url


@pytest.fixture(scope="session")
def api_url(settings, tmp_path_factory):
    web, base_url = start_web(tmp_path_factory.mktemp("web"),
                              RATE_LIMIT_PER_IP="100000/minute",
                              RATE_LIMIT_PER_USER="100000/minute")
    yield base_url
    assert web.stop() == 0


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """Every test starts with no rate-limit history (all tests come from 127.0.0.1)."""
    flush_rate_limits(settings)


def flush_rate_limits(settings, settled: bool = False) -> None:
    """Forget every count; ``settled``: once the previous test's have all reached Redis
    (a web process sends what it counted itself every ``SYNC_SECONDS``), for the modules
    whose limits are large enough to be counted there (``api.rate_counts``)."""
    if settled:
        time.sleep(2 * SYNC_SECONDS)
    redis.Redis.from_url(settings.redis_url).flushdb()


def new_email() -> str:
    return f"u{next(_numbers)}-{secrets.token_hex(4)}@example.com"


def signed_up(api_url: str) -> Client:
    """A new user, logged in: the client carries the session token."""
    client = Client(api_url)
    email = new_email()
    assert client.post("/v1/users", {"email": email, "password": PASSWORD}).status_code == 201
    response = client.post("/v1/sessions", {"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    client.token = response.json()["token"]
    client.email = email  # type: ignore[attr-defined]
    return client


@pytest.fixture
def alice(api_url):
    return signed_up(api_url)


@pytest.fixture
def bob(api_url):
    return signed_up(api_url)


@pytest.fixture
def currency(admin_engine):
    from tests.factories import create_currency
    return create_currency(admin_engine, scale=8)


def api_key(client: Client, scopes: list[str], **extra) -> SignedClient:
    response = client.post("/v1/api-keys", {"scopes": scopes, "label": "bot", **extra})
    assert response.status_code == 201, response.text
    created = response.json()
    return SignedClient(client.base_url, created["id"], created["secret"])
