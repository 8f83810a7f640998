"""References on the hot tables are checked once per statement (migration 0012): a row
naming what does not exist is refused, and what is named can never go away."""

from __future__ import annotations

import importlib.util
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import AccountKind, account
from tests.factories import create_currency, create_user, deposit
from tests.trading import assert_consistent, balances, create_market, funded_user, place, runner

_spec = importlib.util.spec_from_file_location("references", Path(__file__).parents[1] / (
    "db/migrations/versions/0012_references_per_statement.py"))
assert _spec is not None and _spec.loader is not None
migration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(migration)

MISSING = {"bigint": "1000000000000000", "text": "'NO-SUCH'"}


@pytest.fixture(scope="module")
def traded(engine, admin_engine, settings):
    """A market with one trade: every hot table has a row to copy."""
    market = create_market(admin_engine)
    seller = funded_user(engine, market, base="2")
    buyer = funded_user(engine, market, quote="1000")
    place(engine, seller, market, side="sell", type="limit", quantity="1", price="100.00")
    place(engine, buyer, market, side="buy", type="limit", quantity="1", price="100.00")
    assert runner(engine, settings, market).run_pending() == 2
    return market, seller, buyer


def _copy(conn, table: str, market: str, column: str | None) -> None:
    """Insert a copy of one of ``market``'s rows of ``table``, ``column`` naming nothing."""
    columns = conn.execute(text(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = :t AND is_identity = 'NO' ORDER BY ordinal_position"),
        {"t": table}).all()
    values = []
    for name, kind in columns:
        if name == column:
            values.append(MISSING[kind])
        elif name == "sequence":
            values.append("nextval('matcher_sequence')")
        elif name == "client_order_id":
            values.append("NULL")
        else:
            values.append(name)
    names = ", ".join(name for name, _ in columns)
    conn.execute(text(f"INSERT INTO {table} ({names}) SELECT {', '.join(values)} "
                      f"FROM {table} WHERE market = :m LIMIT 1"), {"m": market})


def _checked_references():
    return [(table, column) for table, _, column, _, _ in migration.FOREIGN_KEYS
            if table in migration.CHECKED]


@pytest.mark.parametrize("table, column", _checked_references())
def test_a_row_naming_what_does_not_exist_is_refused(engine, traded, table, column):
    market, seller, buyer = traded
    before = balances(engine, seller), balances(engine, buyer)
    with engine.connect() as conn, conn.begin() as transaction:
        _copy(conn, table, market, None)    # the same row with its references is accepted
        transaction.rollback()
    with pytest.raises(DBAPIError, match=f"names a .*{column}.* that does not exist") as raised, \
            engine.begin() as conn:
        _copy(conn, table, market, column)
    assert raised.value.orig.pgcode == "23503"
    assert (balances(engine, seller), balances(engine, buyer)) == before
    assert_consistent(engine)


def _raw_transfer(conn, key: str) -> int:
    return conn.execute(text(
        "INSERT INTO transfers (idempotency_key, kind, content_hash) "
        "VALUES (:key, 'raw', sha256('x')) RETURNING id"), {"key": key}).scalar_one()


def _raw_entries(conn, rows) -> None:
    conn.execute(text("INSERT INTO entries (transfer_id, account_id, amount) "
                      "SELECT * FROM unnest(CAST(:t AS bigint[]), CAST(:a AS bigint[]), "
                      "CAST(:x AS numeric[]))"),
                 {"t": [r[0] for r in rows], "a": [r[1] for r in rows], "x": [r[2] for r in rows]})


@pytest.mark.parametrize("missing", ["account", "transfer"])
def test_an_entry_naming_an_account_or_transfer_that_does_not_exist_is_refused(
        engine, admin_engine, missing):
    currency = create_currency(admin_engine)
    with engine.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, currency, D("5"))
        available = account(conn, user, currency, AccountKind.AVAILABLE).id
        world = account(conn, None, currency, AccountKind.WORLD).id
    with pytest.raises(DBAPIError, match=f"names (an )?{missing}.* does not exist") as raised, \
            engine.begin() as conn:
        transfer = _raw_transfer(conn, f"ref-{missing}-{currency}")
        if missing == "account":
            _raw_entries(conn, [(transfer, available, "-1"), (transfer, 10**15, "1")])
        else:
            _raw_entries(conn, [(10**15, available, "-1"), (10**15, world, "1")])
            _raw_entries(conn, [(transfer, available, "-1"), (transfer, world, "1")])
    assert raised.value.orig.pgcode == "23503"
    assert balances(engine, user)[currency] == (D("5"), D("0"))
    assert_consistent(engine)


def _statements(market: str, seller: int):
    order = f"(SELECT id FROM orders WHERE market = '{market}' LIMIT 1)"
    return [
        f"DELETE FROM users WHERE id = {seller}",
        f"UPDATE users SET id = DEFAULT WHERE id = {seller}",
        "TRUNCATE users CASCADE",
        f"DELETE FROM markets WHERE symbol = '{market}'",
        f"UPDATE markets SET symbol = 'X-Y' WHERE symbol = '{market}'",
        f"DELETE FROM currencies WHERE code = '{market.split('-')[0]}'",
        f"UPDATE currencies SET code = 'XYZ' WHERE code = '{market.split('-')[0]}'",
        f"DELETE FROM orders WHERE id = {order}",
        f"UPDATE orders SET user_id = 1000000000000000 WHERE id = {order}",
        f"UPDATE orders SET market = 'X-Y' WHERE id = {order}",
        "TRUNCATE orders CASCADE",
        f"DELETE FROM matcher_requests WHERE market = '{market}'",
        f"UPDATE matcher_requests SET order_id = 1000000000000000 WHERE market = '{market}'",
        "TRUNCATE trades CASCADE",
        "TRUNCATE fills",
        f"UPDATE accounts SET id = DEFAULT WHERE owner_user_id = {seller}",
    ]


def test_what_a_row_names_cannot_be_deleted_or_rekeyed_even_by_the_owner(
        engine, admin_engine, traded):
    market, seller, buyer = traded
    before = balances(engine, seller), balances(engine, buyer)
    for statement in _statements(market, seller):
        with pytest.raises(DBAPIError, match="refused|permission denied") as raised, \
                admin_engine.begin() as conn:
            conn.execute(text(statement))
        assert raised.value.orig.pgcode in ("23503", "EX001"), statement
        with pytest.raises(DBAPIError, match="refused|permission denied"), \
                engine.begin() as conn:
            conn.execute(text(statement))
    assert (balances(engine, seller), balances(engine, buyer)) == before
    assert_consistent(engine)
