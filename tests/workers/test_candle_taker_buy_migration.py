"""Migration 0023 gives the candles written before it their taker-buy volumes from the
trades, the very values the matcher writes since; the matcher adds to them after it."""

import importlib.util
from datetime import timedelta
from decimal import Decimal as D

import psycopg2
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

import config
from db import engine as engines
from ledger.accounts import forget_cached_accounts
from workers.matching.runner import MarketRunner
from tests.conftest import TEST_DATABASE, recreate_database
from tests.trading import NOW, Clock, create_market, funded_user, place

SCRATCH = "exchange_scratch_candles"
MIGRATION = config.PROJECT_DIR / "db/migrations/versions/0023_candle_taker_buy_volume.py"
CANDLES = text("""
    SELECT interval, start, volume, quote_volume, taker_buy_volume, taker_buy_quote_volume,
           trades FROM candles WHERE market = :m ORDER BY interval, start""")


def _migration_before() -> str:
    spec = importlib.util.spec_from_file_location("candle_taker_buy_volume", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.down_revision


@pytest.fixture
def scratch(settings):
    """A database of its own at head, the alembic config to move it, and its engines."""
    admin_url = recreate_database(settings, SCRATCH)
    alembic = Config(str(config.PROJECT_DIR / "alembic.ini"))
    alembic.attributes.update(url=admin_url, app_role=settings.database_app_role)
    app_url = settings.database_url.replace(f"/{TEST_DATABASE}?", f"/{SCRATCH}?")
    admin = engines.create(admin_url, pooled=False)
    app = engines.create(app_url, pooled=False)
    yield alembic, admin, app, app_url
    admin.dispose()
    app.dispose()
    maintenance = psycopg2.connect(
        settings.database_admin_url.replace(f"/{TEST_DATABASE}?", "/postgres?"))
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
    maintenance.close()
    forget_cached_accounts()


def _batch(runner: MarketRunner, clock: Clock, at: timedelta) -> None:
    clock.now = NOW + at
    assert runner.run_pending() > 0


def _candles(engine, market) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(CANDLES, {"m": market}).all()
    return {(r.interval, r.start - NOW): tuple(r[2:]) for r in rows}


def test_candles_from_before_the_migration_get_the_taker_buy_volumes_the_matcher_writes(
        scratch):
    alembic, admin, app, app_url = scratch
    market = create_market(admin)
    seller = funded_user(app, market, base="5")
    buyer = funded_user(app, market, quote="1000")
    clock = Clock()
    runner = MarketRunner(app, app_url, market, clock=clock)
    place(app, seller, market, NOW, side="sell", type="limit", quantity="1", price="100.01")
    place(app, buyer, market, NOW, side="buy", type="limit", quantity="0.123",
          price="100.01")
    _batch(runner, clock, timedelta(seconds=10))          # taker buy 0.123 x 100.01
    place(app, buyer, market, NOW, side="buy", type="limit", quantity="0.5", price="99.99")
    place(app, seller, market, NOW, side="sell", type="market", quantity="0.2")
    _batch(runner, clock, timedelta(seconds=20))          # taker sell 0.2 x 99.99
    place(app, buyer, market, NOW, side="buy", type="market", quantity="0.3")
    _batch(runner, clock, timedelta(seconds=70))          # taker buy 0.3 x 100.01
    runner.resign()
    written = _candles(admin, market)
    minute = timedelta(minutes=1)
    assert written[("1m", timedelta(0))] == (D("0.323"), D("32.29923"), D("0.123"),
                                             D("12.30123"), 2)
    assert written[("1m", minute)] == (D("0.3"), D("30.003"), D("0.3"), D("30.003"), 1)
    assert written[("5m", timedelta(0))] == (D("0.623"), D("62.30223"), D("0.423"),
                                             D("42.30423"), 3)

    command.downgrade(alembic, _migration_before())
    with admin.begin() as conn:
        columns = conn.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'candles' "
            "AND column_name LIKE 'taker_buy%'")).scalars().all()
        # A candle begun before candles were kept (0005) counts fewer trades than its
        # interval holds: it cannot be told which are its own, and keeps 0.
        conn.execute(text("UPDATE candles SET volume = 0.5, quote_volume = 50.001, trades = 2 "
                          "WHERE market = :m AND interval = '15m'"), {"m": market})
    assert columns == []
    command.upgrade(alembic, "head")
    backfilled = _candles(admin, market)
    assert backfilled == written | {("15m", timedelta(0)): (D("0.5"), D("50.001"), D(0), D(0),
                                                            2)}
    assert len(backfilled) == 7 and backfilled[("1d", -timedelta(hours=12))] == \
        written[("5m", timedelta(0))]

    # The matcher, as the application's role, adds to the backfilled candles.
    runner = MarketRunner(app, app_url, market, clock=clock)
    place(app, buyer, market, NOW, side="buy", type="market", quantity="0.1")
    _batch(runner, clock, timedelta(seconds=30))          # taker buy 0.1 x 100.01
    runner.resign()
    after = _candles(admin, market)
    assert after[("1m", timedelta(0))] == (D("0.423"), D("42.30023"), D("0.223"),
                                           D("22.30223"), 3)
    assert after[("5m", timedelta(0))] == (D("0.723"), D("72.30323"), D("0.523"),
                                           D("52.30523"), 4)
