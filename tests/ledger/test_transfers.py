from decimal import Decimal

import pytest
from sqlalchemy import text

from ledger import (
    AccountKind, Entry, IdempotencyConflict, InsufficientFunds, LedgerIntegrityError, Transfer,
    UnbalancedTransfer, account, balance, move, post, post_many, reconcile, user_balances,
)
from ledger.errors import AmountError
from tests.factories import create_currency, create_user, deposit


@pytest.fixture
def btc(admin_engine):
    return create_currency(admin_engine, scale=8)


def accounts_of(conn, user, currency):
    return (account(conn, user, currency, AccountKind.AVAILABLE),
            account(conn, user, currency, AccountKind.HELD))


def release(conn, held, available):
    """Hand back a hold made without an order, so that reconciliation's holds check
    (every held unit is held for an order or a withdrawal) stays clean."""
    post(conn, move(f"release-{held.id}", "order_release", held, available,
                    balance(conn, held)))


def test_a_transfer_moves_exact_amounts_and_balances_follow(engine, btc):
    with engine.begin() as conn:
        alice, bob = create_user(conn), create_user(conn)
        deposit(conn, alice, btc, Decimal("1.00000000"))
        alice_available, _ = accounts_of(conn, alice, btc)
        bob_available, _ = accounts_of(conn, bob, btc)
        post(conn, move("t1-" + btc, "internal", alice_available, bob_available,
                        Decimal("0.12345678")))
    with engine.connect() as conn:
        assert balance(conn, alice_available) == Decimal("0.87654322")
        assert balance(conn, bob_available) == Decimal("0.12345678")
        world = account(conn, None, btc, AccountKind.WORLD)
        assert balance(conn, world) == Decimal("-1.00000000")
        assert user_balances(conn, alice)[btc].total == Decimal("0.87654322")
    assert reconcile(engine) == []


def test_a_multi_currency_transfer_balances_per_currency(engine, admin_engine, btc):
    usd = create_currency(admin_engine, scale=2)
    with engine.begin() as conn:
        buyer, seller = create_user(conn), create_user(conn)
        deposit(conn, buyer, usd, Decimal("100.00"))
        deposit(conn, seller, btc, Decimal("0.5"))
        b_usd, _ = accounts_of(conn, buyer, usd)
        b_btc, _ = accounts_of(conn, buyer, btc)
        s_usd, _ = accounts_of(conn, seller, usd)
        s_btc, _ = accounts_of(conn, seller, btc)
        post(conn, Transfer("trade-" + btc, "trade", (
            Entry(b_usd, Decimal("-60.00")), Entry(s_usd, Decimal("60.00")),
            Entry(s_btc, Decimal("-0.5")), Entry(b_btc, Decimal("0.5")))))
        assert user_balances(conn, buyer)[usd].available == Decimal("40.00")
        assert user_balances(conn, buyer)[btc].available == Decimal("0.5")
        assert user_balances(conn, seller)[usd].available == Decimal("60.00")
        assert user_balances(conn, seller)[btc].available == Decimal("0")


def test_posting_the_same_key_twice_is_a_no_op_returning_the_first(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, btc, Decimal("2"))
        available, held = accounts_of(conn, user, btc)
        first = post(conn, move("hold-" + btc, "order_hold", available, held, Decimal("0.5")))
    with engine.begin() as conn:
        second = post(conn, move("hold-" + btc, "order_hold", available, held, Decimal("0.5")))
        assert (second.id, second.created, first.created) == (first.id, False, True)
        assert balance(conn, available) == Decimal("1.5")
        assert balance(conn, held) == Decimal("0.5")
        release(conn, held, available)


def test_the_same_key_with_different_content_is_refused(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, btc, Decimal("2"))
        available, held = accounts_of(conn, user, btc)
        post(conn, move("k-" + btc, "order_hold", available, held, Decimal("0.5")))
    with pytest.raises(IdempotencyConflict), engine.begin() as conn:
        post(conn, move("k-" + btc, "order_hold", available, held, Decimal("0.6")))
    with engine.begin() as conn:
        assert balance(conn, held) == Decimal("0.5")
        release(conn, held, available)


def test_a_batch_posts_many_transfers_in_one_go(engine, btc):
    with engine.begin() as conn:
        users = [create_user(conn) for _ in range(5)]
        world = account(conn, None, btc, AccountKind.WORLD)
        batch = [move(f"batch-{btc}-{i}", "deposit", world,
                      account(conn, user, btc, AccountKind.AVAILABLE), Decimal(i + 1))
                 for i, user in enumerate(users)]
        posted = post_many(conn, batch)
        assert [p.created for p in posted] == [True] * 5
        assert [user_balances(conn, u)[btc].available for u in users] == [1, 2, 3, 4, 5]
        assert balance(conn, world) == Decimal(-15)


def test_taking_more_than_the_balance_is_refused_and_changes_nothing(engine, btc):
    with engine.begin() as conn:
        user, other = create_user(conn), create_user(conn)
        deposit(conn, user, btc, Decimal("1"))
        source, _ = accounts_of(conn, user, btc)
        destination, _ = accounts_of(conn, other, btc)
    with pytest.raises(InsufficientFunds), engine.begin() as conn:
        post(conn, move("over-" + btc, "internal", source, destination, Decimal("1.00000001")))
    with engine.connect() as conn:
        assert balance(conn, source) == Decimal("1")
        assert balance(conn, destination) == Decimal("0")


@pytest.mark.parametrize("amounts", [
    (Decimal("1"), Decimal("-0.9")),                  # does not sum to zero
    (Decimal("1"),),                                  # a single entry
    (Decimal("0"), Decimal("0")),                     # entries of zero
])
def test_unbalanced_transfers_are_refused_before_the_database(engine, btc, amounts):
    with engine.begin() as conn:
        user = create_user(conn)
        world = account(conn, None, btc, AccountKind.WORLD)
        available = account(conn, user, btc, AccountKind.AVAILABLE)
        legs = (world, available)
        with pytest.raises(UnbalancedTransfer):
            post(conn, Transfer("u-" + btc, "deposit",
                                tuple(Entry(a, x) for a, x in zip(legs, amounts))))


def test_an_amount_finer_than_the_currency_scale_is_refused(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        world = account(conn, None, btc, AccountKind.WORLD)
        available = account(conn, user, btc, AccountKind.AVAILABLE)
        with pytest.raises(AmountError):
            post(conn, move("s-" + btc, "deposit", world, available, Decimal("0.000000001")))


def raw_transfer(conn, key):
    return conn.execute(text(
        "INSERT INTO transfers (idempotency_key, kind, content_hash) "
        "VALUES (:key, 'raw', sha256('x')) RETURNING id"), {"key": key}).scalar_one()


def raw_entries(conn, rows):
    conn.execute(text("INSERT INTO entries (transfer_id, account_id, amount) "
                      "SELECT * FROM unnest(CAST(:t AS bigint[]), CAST(:a AS bigint[]), "
                      "CAST(:x AS numeric[]))"),
                 {"t": [r[0] for r in rows], "a": [r[1] for r in rows], "x": [r[2] for r in rows]})


@pytest.mark.parametrize("amounts, message", [
    (("5", "-4"), "does not balance"),
    (("0.000000001", "-0.000000001"), "more decimals"),
    (("5", "-5", "1", "-1"), None),  # balanced: accepted
])
def test_the_database_itself_refuses_what_python_would(engine, btc, amounts, message):
    with engine.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, btc, Decimal("10"))
        world = account(conn, None, btc, AccountKind.WORLD).id
        available = account(conn, user, btc, AccountKind.AVAILABLE).id
    legs = [world, available] * 2
    if message is None:
        with engine.begin() as conn:
            transfer_id = raw_transfer(conn, "raw-ok-" + btc)
            raw_entries(conn, [(transfer_id, a, x) for a, x in zip(legs, amounts)])
        return
    with pytest.raises(Exception, match=message), engine.begin() as conn:
        transfer_id = raw_transfer(conn, "raw-" + btc)
        raw_entries(conn, [(transfer_id, a, x) for a, x in zip(legs, amounts)])


def test_the_database_refuses_a_user_balance_below_zero(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, btc, Decimal("1"))
        world = account(conn, None, btc, AccountKind.WORLD).id
        available = account(conn, user, btc, AccountKind.AVAILABLE).id
    with pytest.raises(Exception, match="accounts_balance_nonnegative"), engine.begin() as conn:
        transfer_id = raw_transfer(conn, "neg-" + btc)
        raw_entries(conn, [(transfer_id, available, "-2"), (transfer_id, world, "2")])


def test_entries_cannot_be_added_to_a_committed_transfer(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        world = account(conn, None, btc, AccountKind.WORLD)
        available = account(conn, user, btc, AccountKind.AVAILABLE)
        posted = post(conn, move("late-" + btc, "deposit", world, available, Decimal("1")))
    with pytest.raises(Exception, match="transaction that created"), engine.begin() as conn:
        raw_entries(conn, [(posted.id, available.id, "1"), (posted.id, world.id, "-1")])


def test_entries_of_one_transfer_must_come_in_one_statement(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        world = account(conn, None, btc, AccountKind.WORLD).id
        available = account(conn, user, btc, AccountKind.AVAILABLE).id
    with pytest.raises(Exception, match="one statement"), engine.begin() as conn:
        transfer_id = raw_transfer(conn, "split-" + btc)
        raw_entries(conn, [(transfer_id, available, "1"), (transfer_id, world, "-1")])
        raw_entries(conn, [(transfer_id, available, "1"), (transfer_id, world, "-1")])


def test_a_transfer_without_entries_is_refused_at_commit(engine, btc):
    with pytest.raises(Exception, match="has no entries"), engine.begin() as conn:
        raw_transfer(conn, "empty-" + btc)


def test_a_new_account_cannot_start_with_a_balance(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        account_id = conn.execute(text(
            "INSERT INTO accounts (owner_user_id, currency, kind, balance) "
            "VALUES (:u, :c, 'available', 1000) RETURNING id"), {"u": user, "c": btc}).scalar_one()
        assert conn.execute(text("SELECT balance FROM accounts WHERE id = :i"),
                            {"i": account_id}).scalar_one() == 0


def test_posting_through_a_failed_transaction_leaves_no_trace(engine, btc):
    with engine.begin() as conn:
        user = create_user(conn)
        world = account(conn, None, btc, AccountKind.WORLD)
        available = account(conn, user, btc, AccountKind.AVAILABLE)
    with pytest.raises(LedgerIntegrityError), engine.begin() as conn:
        post(conn, move("ok-" + btc, "deposit", world, available, Decimal("1")))
        conn.execute(text("SELECT 1"))
        raise LedgerIntegrityError("caller failed after posting")
    with engine.connect() as conn:
        assert balance(conn, available) == 0


def test_a_transfers_content_hash_never_changes():
    """Stored with each transfer and compared when its key is posted again: a retry made
    after an upgrade must hash as before (this is the digest of the first release)."""
    from ledger.accounts import Account, AccountKind
    from ledger.transfers import Entry, Transfer, _validated_hash

    held = Account(7, 3, "BTC", AccountKind.HELD, 8)
    available = Account(9, 4, "BTC", AccountKind.AVAILABLE, 8)
    fees = Account(2, None, "BTC", AccountKind.FEES, 8)
    quote_held = Account(8, 4, "USD", AccountKind.HELD, 2)
    quote_available = Account(6, 3, "USD", AccountKind.AVAILABLE, 2)
    entries = ((held, "-1.50000000"), (available, "1.497"), (fees, "0.003"),
               (quote_held, "-150.00"), (quote_available, "150"))
    transfer = Transfer("trade:BTC-USD:1", "trade",
                        tuple(Entry(account, Decimal(amount)) for account, amount in entries),
                        "trade:1")
    assert _validated_hash(transfer).hex() == \
        "4f65be30be2e343fa9c9e14e72c18c2f5e271a9c3f044154fdc707995940f087"
