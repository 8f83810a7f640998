"""Real servers for every test: the embedded PostgreSQL and Redis, a fresh database.

The test database is dropped and recreated at the start of a session (the ledger
refuses DELETE and TRUNCATE, so tests never clean up rows: each test makes its own
users and currencies). Servers this session started are stopped at its end.
"""

from __future__ import annotations

import os

import psycopg2
import pytest

TEST_DATABASE = "exchange_test"
os.environ["EMBEDDED_DATABASE"] = TEST_DATABASE
os.environ["EMBEDDED_REDIS_DATABASE"] = "1"  # apart from a running `make run`
os.environ.pop("DATABASE_URL", None)
os.environ.pop("DATABASE_ADMIN_URL", None)
os.environ.pop("REDIS_URL", None)

import config  # noqa: E402  (the environment above must be set first)
from db import engine as engines  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from embedded.services import ensure_database  # noqa: E402
from ledger.accounts import forget_cached_accounts  # noqa: E402


def recreate_database(settings: config.Settings, name: str) -> str:
    """Drop and create database ``name``, migrated; returns its owner's URL."""
    admin_url = settings.database_admin_url.replace(f"/{TEST_DATABASE}?", f"/{name}?")
    maintenance = psycopg2.connect(
        settings.database_admin_url.replace(f"/{TEST_DATABASE}?", "/postgres?"))
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    maintenance.close()
    ensure_database(settings, name)
    upgrade(admin_url, settings.database_app_role)
    forget_cached_accounts()
    return admin_url


@pytest.fixture(scope="session")
def settings():
    settings = config.load()
    postgres, redis = EmbeddedPostgres(settings.var_dir), EmbeddedRedis(settings.var_dir)
    started = [server for server in (postgres, redis) if server.start()]
    recreate_database(settings, TEST_DATABASE)
    yield settings
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def engine(settings):
    """The application's role, as every process uses it."""
    engine = engines.create(settings.database_url, pool_size=20)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def admin_engine(settings):
    """The owner's role, for what only migrations and operators do."""
    engine = engines.create(settings.database_admin_url, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def no_process_left_behind():
    from tests.processes import kill_leftovers, running

    before = running()  # processes of wider-scoped fixtures, started before this test
    yield
    kill_leftovers(keep=before)


@pytest.fixture(scope="session", autouse=True)
def no_process_left_at_the_end():
    """What a fixture that failed to set up left running (it is among the processes of
    wider-scoped fixtures for every test after it) ends with the session."""
    from tests.processes import kill_leftovers

    yield
    kill_leftovers(keep=[])


@pytest.fixture(scope="session")
def bitcoin_network(tmp_path_factory):
    """Two real regtest nodes (ours and the world's), shared by tests/currencies and
    tests/custody."""
    from tests.currencies.nodes import BitcoindNetwork

    network = BitcoindNetwork(tmp_path_factory.mktemp("bitcoind"))
    yield network
    network.stop()


@pytest.fixture(scope="session")
def anvil_chain(tmp_path_factory):
    from tests.currencies.nodes import AnvilChain

    node = AnvilChain(tmp_path_factory.mktemp("anvil"))
    yield node
    node.stop()


@pytest.fixture
def scratch(settings):
    """A database of its own: the broken rows below must not reach other tests."""
    admin_url = recreate_database(settings, "exchange_scratch_reconcile")
    admin = engines.create(admin_url, pooled=False)
    app = engines.create(admin_url.replace("postgres@", f"{settings.database_app_role}@"),
                         pooled=False)
    yield admin, app
    admin.dispose()
    app.dispose()
    recreate_database(settings, "exchange_scratch_reconcile")


@pytest.fixture
def proxy(settings):
    """A TCP proxy in front of the embedded PostgreSQL that cuts connections on cue
    (tests/pgproxy.py)."""
    from tests.pgproxy import CuttingProxy, socket_path_of
    proxy = CuttingProxy(socket_path_of(settings.database_url))
    yield proxy
    proxy.close()
