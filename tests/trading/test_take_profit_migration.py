"""Migration 0022 lets ``orders.type`` take the two take-profit types, keeps the orders
placed before it and the application role's privileges, and goes back only once no
take-profit order is left."""

import psycopg2
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import config
from db import engine as engines
from embedded.services import ensure_database
from tests.conftest import TEST_DATABASE
from tests.factories import create_user
from tests.trading import create_market

SCRATCH = "exchange_scratch_take_profit"
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


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
    """A database migrated up to 0021, the alembic config to go on, the owner's engine."""
    _drop(settings)
    ensure_database(settings, SCRATCH)
    admin_url = _in(settings.database_admin_url, SCRATCH)
    alembic = Config(str(config.PROJECT_DIR / "alembic.ini"))
    alembic.attributes.update(url=admin_url, app_role=settings.database_app_role)
    command.upgrade(alembic, "0021")
    admin = engines.create(admin_url, pooled=False)
    yield alembic, admin, settings.database_app_role
    admin.dispose()
    _drop(settings)


def _insert(conn, market, user, kind) -> int:
    """An untriggered sell of ``kind`` (stop price 90.00, a limit price for the limits)."""
    base = market.split("-")[0]
    return conn.execute(text("""
        INSERT INTO orders (user_id, market, side, type, time_in_force, price, stop_price,
                            quantity, status, hold_currency, hold_amount, hold_remaining,
                            sequence)
        VALUES (:u, :m, 'sell', :t, 'gtc', CASE WHEN :t LIKE '%limit' THEN 89.00 END, 90.00,
                1, 'untriggered', :c, 1, 1, nextval('matcher_sequence'))
        RETURNING id"""), {"u": user, "m": market, "t": kind, "c": base}).scalar_one()


def _type_checks(conn) -> list[tuple[str, str]]:
    return [tuple(row) for row in conn.execute(text("""
        SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = 'type'
         WHERE c.conrelid = 'orders'::regclass AND c.contype = 'c'
           AND c.conkey = ARRAY[a.attnum]""")).all()]


def _privileges(conn, role) -> list[str]:
    return [name for name in PRIVILEGES if conn.execute(
        text("SELECT has_table_privilege(:r, 'orders', :p)"), {"r": role, "p": name}).scalar()]


def test_take_profit_types_are_accepted_after_0022_and_refused_again_after_going_back(
        scratch):
    alembic, admin, app_role = scratch
    market = create_market(admin)
    with admin.begin() as conn:
        user = create_user(conn)
        stop = _insert(conn, market, user, "stop_limit")
        privileges = _privileges(conn, app_role)
    with pytest.raises(IntegrityError, match="orders_type_check"), admin.begin() as conn:
        _insert(conn, market, user, "take_profit_limit")
    command.upgrade(alembic, "0022")
    with admin.connect() as conn:
        (name, definition), = _type_checks(conn)
        assert name == "orders_type_check"
        assert "'take_profit_market'" in definition and "'take_profit_limit'" in definition
        assert conn.execute(text("SELECT type FROM orders WHERE id = :i"),
                            {"i": stop}).scalar_one() == "stop_limit"
        assert _privileges(conn, app_role) == privileges
    command.downgrade(alembic, "0021")
    with admin.connect() as conn:
        assert [name for name, _ in _type_checks(conn)] == ["orders_type_check"]
    with pytest.raises(IntegrityError, match="orders_type_check"), admin.begin() as conn:
        _insert(conn, market, user, "take_profit_market")
    command.upgrade(alembic, "0022")
    with admin.begin() as conn:
        for kind in ("take_profit_market", "take_profit_limit"):
            _insert(conn, market, user, kind)
    # Orders are never deleted, so with take-profit orders kept there is no going back.
    with pytest.raises(IntegrityError, match="orders_type_check"):
        command.downgrade(alembic, "0021")
