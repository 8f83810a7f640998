"""db.outcomes against the real server: a failure is "rolled back" only when the server
said so; a session ended around the COMMIT (``pg_terminate_backend``) is an unknown
outcome, and a connection lost before it is "nothing committed"."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from db import engine as engines
from db import outcomes
from db.errors import CommitOutcomeUnknown, DatabaseUnavailable
from db.schema import users
from tests.factories import create_user


@pytest.fixture
def unpooled(settings):
    engine = engines.create(settings.database_url, pooled=False)
    yield engine
    engine.dispose()


def terminate(admin_engine, pid: int) -> None:
    with admin_engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid}).scalar()


def emails(engine, email: str) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(users.c.id).where(users.c.email == email)).all())


def test_a_session_terminated_before_its_commit_answers_commit_outcome_unknown(
        unpooled, admin_engine):
    with pytest.raises(CommitOutcomeUnknown) as raised:
        with outcomes.transaction(unpooled, "not confirmed") as conn:
            conn.execute(insert(users).values(email="terminated@example.test",
                                              password_hash="x"))
            terminate(admin_engine, conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
    assert raised.value.message == "not confirmed"
    assert not outcomes.rolled_back(raised.value.__cause__)
    assert emails(unpooled, "terminated@example.test") == 0   # here it had not: unknowable


def test_a_connection_lost_before_the_commit_is_nothing_committed(unpooled, admin_engine):
    with pytest.raises(DatabaseUnavailable):
        with outcomes.transaction(unpooled) as conn:
            conn.execute(insert(users).values(email="lost@example.test", password_hash="x"))
            terminate(admin_engine, conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
            conn.execute(text("SELECT 1"))
    assert emails(unpooled, "lost@example.test") == 0


def test_an_error_the_server_reports_is_rolled_back_and_raised_as_it_is(unpooled):
    with unpooled.begin() as conn:
        taken = conn.execute(select(users.c.email).where(
            users.c.id == create_user(conn))).scalar_one()
    with pytest.raises(IntegrityError) as raised:
        with outcomes.transaction(unpooled) as conn:
            conn.execute(insert(users).values(email=taken, password_hash="x"))
    assert outcomes.rolled_back(raised.value) and not outcomes.transient(raised.value)
