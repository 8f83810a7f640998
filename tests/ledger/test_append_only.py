"""Ledger rows can be added, never changed: by the application, and not even by the owner."""

from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import AccountKind, account, balance, reconcile
from tests.factories import create_currency, create_user, deposit

STATEMENTS = [
    "UPDATE entries SET amount = amount * 2",
    "DELETE FROM entries",
    "TRUNCATE entries",
    "UPDATE transfers SET kind = 'forged'",
    "DELETE FROM transfers",
    "TRUNCATE transfers CASCADE",
    "UPDATE accounts SET balance = balance + 1000",
    "DELETE FROM accounts",
    "TRUNCATE accounts CASCADE",
]


@pytest.fixture(scope="module")
def funded_account(engine, admin_engine):
    currency = create_currency(admin_engine)
    with engine.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, currency, Decimal("3"))
        return account(conn, user, currency, AccountKind.AVAILABLE)


@pytest.mark.parametrize("statement", STATEMENTS)
def test_the_application_role_cannot_change_the_ledger(engine, funded_account, statement):
    with pytest.raises(DBAPIError, match="permission denied|append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert balance(conn, funded_account) == Decimal("3")


@pytest.mark.parametrize("statement", STATEMENTS)
def test_even_the_owner_role_is_refused_by_triggers(admin_engine, engine, funded_account,
                                                    statement):
    with pytest.raises(DBAPIError, match="append-only|changes only through entries"), \
            admin_engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert balance(conn, funded_account) == Decimal("3")
    assert reconcile(engine) == []


@pytest.mark.parametrize("statement", [
    "ALTER TABLE entries DISABLE TRIGGER entries_append_only",
    "DROP TRIGGER entries_append_only ON entries",
    "SET session_replication_role = replica",
    "ALTER TABLE accounts DROP CONSTRAINT accounts_balance_nonnegative",
])
def test_the_application_role_cannot_switch_the_guards_off(engine, statement):
    with pytest.raises(DBAPIError, match="must be owner|permission denied"), engine.begin() as conn:
        conn.execute(text(statement))


def test_an_account_cannot_change_owner(admin_engine, engine, funded_account):
    with engine.begin() as conn:
        other = create_user(conn)
    with pytest.raises(DBAPIError, match="cannot change owner"), admin_engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET owner_user_id = :o WHERE id = :i"),
                     {"o": other, "i": funded_account.id})
