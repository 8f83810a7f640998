"""reconcile() finds rows that a superuser slipped past the database's guards."""

from decimal import Decimal

from sqlalchemy import text

from ledger import AccountKind, account, reconcile
from tests.factories import create_currency, create_user, deposit


def test_a_clean_ledger_reconciles(scratch):
    admin, app = scratch
    currency = create_currency(admin)
    with app.begin() as conn:
        deposit(conn, create_user(conn), currency, Decimal("1.5"))
    assert reconcile(app) == []


def test_an_entry_inserted_past_the_triggers_is_reported_every_way_it_breaks(scratch):
    admin, app = scratch
    currency = create_currency(admin)
    with app.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, currency, Decimal("1.5"))
        available = account(conn, user, currency, AccountKind.AVAILABLE)
    with admin.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        transfer_id = conn.execute(text(
            "INSERT INTO transfers (idempotency_key, kind, content_hash, xact_id, created_at) "
            "VALUES ('forged', 'forged', sha256('x'), pg_current_xact_id(), now()) RETURNING id"
        )).scalar_one()
        conn.execute(text("INSERT INTO entries (transfer_id, account_id, amount) "
                          "VALUES (:t, :a, 1000)"), {"t": transfer_id, "a": available.id})
    found = {(d.kind, d.subject): d.detail for d in reconcile(app)}
    assert found == {
        ("account_balance_differs", f"account {available.id}"):
            "running balance 1.5 over 1 entries, entries sum to 1001.5 over 2",
        ("transfer_unbalanced", f"transfer {transfer_id}"): f"{currency} entries sum to 1000",
        ("currency_unbalanced", f"currency {currency}"): "all entries sum to 1000.0",
        ("transfer_without_entries", f"transfer {transfer_id}"): "has fewer than two entries",
    }


def test_a_balance_forged_past_the_triggers_is_reported(scratch):
    admin, app = scratch
    currency = create_currency(admin)
    with app.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, currency, Decimal("2"))
        available = account(conn, user, currency, AccountKind.AVAILABLE)
    with admin.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE accounts SET balance = 7 WHERE id = :a"), {"a": available.id})
    assert [str(d) for d in reconcile(app)] == [
        f"account_balance_differs: account {available.id}: "
        "running balance 7 over 1 entries, entries sum to 2 over 1"]


def test_a_difference_that_names_no_currency_pauses_the_withdrawals_of_every_currency(
        scratch):
    from custody import pauses
    from scheduler.jobs import reconcile_ledger

    admin, app = scratch
    codes = sorted(create_currency(admin) for _ in range(3))
    with app.begin() as conn:
        assert pauses.pause(conn, {codes[0]: "an operator looks at the node"}) == [codes[0]]
    with admin.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        transfer_id = conn.execute(text(
            "INSERT INTO transfers (idempotency_key, kind, content_hash, xact_id, created_at) "
            "VALUES ('empty', 'forged', sha256('x'), pg_current_xact_id(), now()) RETURNING id"
        )).scalar_one()
    stopped = reconcile_ledger(app)
    assert stopped.withdrawals == codes[1:]         # the first was paused already
    with app.connect() as conn:
        paused = conn.execute(text("SELECT code, withdrawals_paused, withdrawals_paused_reason "
                                   "FROM currencies ORDER BY code")).all()
    because = ("reconciliation found 1 difference(s) in the ledger, the first: "
               f"transfer_without_entries: transfer {transfer_id}: has fewer than two entries")
    assert [tuple(row) for row in paused] == [
        (codes[0], True, "an operator looks at the node"), (codes[1], True, because),
        (codes[2], True, because)]


def test_a_hold_that_no_order_or_withdrawal_explains_is_reported(scratch):
    from tests.trading import create_market, funded_user, place

    admin, app = scratch
    market = create_market(admin)
    base, quote = market.split("-")
    seller = funded_user(app, market, base="2")
    order = place(app, seller, market, side="sell", type="limit", quantity="1.5",
                  price="10.00")
    assert reconcile(app) == []
    with admin.begin() as conn:      # the order forgets part of what it holds
        conn.execute(text("UPDATE orders SET hold_remaining = 1 WHERE id = :o"),
                     {"o": int(order["id"])})
    assert [(d.kind, d.subject, d.detail, d.currency) for d in reconcile(app)] == [
        ("holds_differ", f"user {seller}",
         f"{base} held 1.50000000, but orders hold 1 and withdrawals 0", base)]
