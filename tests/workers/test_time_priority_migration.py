"""Migration 0019 gives the orders resting before it the priority a rebuild gave them
(their sequence), and every order put in the book after it queues behind them."""

import importlib.util
from decimal import Decimal as D

import psycopg2
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

import config
from db import engine as engines
from embedded.services import ensure_database
from workers.matching.runner import MarketRunner
from tests.conftest import TEST_DATABASE
from tests.factories import create_user
from tests.trading import Clock, create_market, funded_user, place

SCRATCH = "exchange_scratch_priority"
MIGRATION = config.PROJECT_DIR / "db/migrations/versions/0019_order_priority.py"


def _migration_before() -> str:
    spec = importlib.util.spec_from_file_location("order_priority", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.down_revision


def _in(url: str, database: str) -> str:
    return url.replace(f"/{TEST_DATABASE}?", f"/{database}?")


def _drop(settings) -> None:
    maintenance = psycopg2.connect(_in(settings.database_admin_url, "postgres"))
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
    maintenance.close()


@pytest.fixture
def scratch(settings):
    """A database migrated up to the revision before 0019, and the alembic config to go on."""
    _drop(settings)
    ensure_database(settings, SCRATCH)
    admin_url = _in(settings.database_admin_url, SCRATCH)
    alembic = Config(str(config.PROJECT_DIR / "alembic.ini"))
    alembic.attributes.update(url=admin_url, app_role=settings.database_app_role)
    command.upgrade(alembic, _migration_before())
    admin = engines.create(admin_url, pooled=False)
    app_url = _in(settings.database_url, SCRATCH)
    app = engines.create(app_url, pooled=False)
    yield alembic, admin, app, app_url
    admin.dispose()
    app.dispose()
    _drop(settings)


def _old_order(conn, market, user, status, type="limit", stop_price=None):
    """A sell at 100.00 as the matcher left it before 0019; its sequence."""
    base = market.split("-")[0]
    sequence = conn.execute(text("SELECT nextval('matcher_sequence')")).scalar_one()
    order_id = conn.execute(text("""
        INSERT INTO orders (user_id, market, side, type, time_in_force, price, stop_price,
                            quantity, status, hold_currency, hold_amount, hold_remaining,
                            sequence)
        VALUES (:u, :m, 'sell', :t, 'gtc', 100.00, :sp, 1, :s, :c, 1, 0, :q)
        RETURNING id"""), {"u": user, "m": market, "t": type, "sp": stop_price, "s": status,
                           "c": base, "q": sequence}).scalar_one()
    conn.execute(text("INSERT INTO matcher_requests (sequence, market, kind, order_id, "
                      "processed_at) VALUES (:q, :m, 'order', :o, now())"),
                 {"q": sequence, "m": market, "o": order_id})
    return order_id, sequence


def test_orders_resting_before_the_migration_keep_their_order_and_new_ones_queue_behind(
        scratch):
    alembic, admin, app, app_url = scratch
    market = create_market(admin)
    with admin.begin() as conn:
        user = create_user(conn)
        resting = [_old_order(conn, market, user, status)
                   for status in ("open", "filled", "partially_filled", "open")]
        stop = _old_order(conn, market, user, "untriggered", "stop_limit", 90)
        # A book_sequence behind a resting order's sequence, as out-of-order commits left it.
        conn.execute(text("INSERT INTO market_state (market, book_sequence) VALUES (:m, :s)"),
                     {"m": market, "s": resting[0][1]})
    command.upgrade(alembic, "head")
    with admin.connect() as conn:
        priorities = dict(conn.execute(text("SELECT id, priority FROM orders WHERE market = :m"),
                                       {"m": market}).all())
        book_sequence = conn.execute(text("SELECT book_sequence FROM market_state "
                                          "WHERE market = :m"), {"m": market}).scalar_one()
    open_ones = [resting[0], resting[2], resting[3]]
    assert {i: priorities[i] for i, _ in open_ones} == {i: s for i, s in open_ones}
    assert priorities[resting[1][0]] is None and priorities[stop[0]] is None
    assert book_sequence == resting[3][1]
    seller = funded_user(app, market, base="1")
    new = place(app, seller, market, side="sell", type="limit", quantity="1", price="100.00")
    runner = MarketRunner(app, app_url, market, clock=Clock())
    assert runner.run_pending() == 1
    assert [o.id for o in runner.book.asks[D("100.00")]] == [i for i, _ in open_ones] + [
        int(new["id"])]
    with admin.connect() as conn:
        new_priority = conn.execute(text("SELECT priority FROM orders WHERE id = :i"),
                                    {"i": int(new["id"])}).scalar_one()
    assert new_priority > book_sequence
    runner.resign()
