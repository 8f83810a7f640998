"""Engines whose connections stay in autocommit mode send nothing of their own."""

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
