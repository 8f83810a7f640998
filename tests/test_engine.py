"""Engines whose connections stay in autocommit mode send nothing of their own."""

import psycopg2
from sqlalchemy import text

from db import engine as engines


def last_statement(admin_engine, pid: int) -> str:
    with admin_engine.connect() as conn:
        return conn.execute(text("SELECT query FROM pg_stat_activity WHERE pid = :pid"),
                            {"pid": pid}).scalar_one()


def test_a_connection_of_an_autocommit_engine_returns_to_the_pool_without_a_statement(
        settings, admin_engine):
    engine = engines.create(settings.database_url, pool_size=1, autocommit=True)
    try:
        for _ in range(2):   # the second use finds the connection as the first left it
            with engine.connect() as conn:
                # What the order writers and the matcher ask for: nothing to switch.
                conn.execution_options(isolation_level="AUTOCOMMIT")
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                assert conn.exec_driver_sql("SHOW transaction_isolation").scalar_one() == \
                    "read committed"
            assert last_statement(admin_engine, pid) == "SHOW transaction_isolation"
        with engine.connect() as conn:   # and it commits each statement
            # (The application's role may not create even a temporary table.)
            xact = conn.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar_one()
            conn.rollback()
            assert conn.exec_driver_sql(f"SELECT pg_xact_status('{xact}')").scalar_one() == \
                "committed"
    finally:
        engine.dispose()


def test_switching_a_pooled_connection_costs_a_statement_on_its_return(
        settings, admin_engine):
    """Why the autocommit paths have engines of their own."""
    engine = engines.create(settings.database_url, pool_size=1)
    try:
        for _ in range(2):
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert last_statement(admin_engine, pid) == \
            "SET default_transaction_isolation TO DEFAULT"
    finally:
        engine.dispose()


def test_every_session_shows_times_in_utc_whatever_the_servers_default(settings, admin_engine):
    """An order's view shows its times as PostgreSQL gives them; kept views
    (``trading.kept_views``) rely on one instant always being the same text."""
    database = admin_engine.url.database
    with admin_engine.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" SET timezone = \'Pacific/Chatham\''))
        conn.commit()
    try:
        for options in ({}, {"key_lookups": True}, {"autocommit": True}):
            engine = engines.create(settings.database_url, **options)
            try:
                with engine.connect() as conn:
                    assert conn.exec_driver_sql("SHOW timezone").scalar_one() == "UTC"
                    now = conn.exec_driver_sql("SELECT now()").scalar_one()
                    assert now.utcoffset().total_seconds() == 0
                    assert now.isoformat().endswith("+00:00")
            finally:
                engine.dispose()
        plain = psycopg2.connect(settings.database_url)   # the test's premise
        try:
            with plain.cursor() as cursor:
                cursor.execute("SHOW timezone")
                assert cursor.fetchone()[0] == "Pacific/Chatham"
        finally:
            plain.close()
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" RESET timezone'))
            conn.commit()


def test_the_operators_session_options_are_kept_before_ours(monkeypatch):
    url = "postgresql://u@h/db?options=-c%20statement_timeout%3D5s"
    assert engines.options(url, False) == "-c statement_timeout=5s -c timezone=UTC"
    monkeypatch.setenv("PGOPTIONS", "-c search_path=exchange")
    assert engines.options("postgresql://u@h/db", True) == \
        f"-c search_path=exchange -c timezone=UTC {engines.KEY_LOOKUPS}"
