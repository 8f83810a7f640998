"""The scheduler's jobs, called directly: what each one queues, wakes or halts."""

from decimal import Decimal

from sqlalchemy import text

from ledger import AccountKind, account
from tests.factories import create_currency, create_user, deposit


def test_scheduled_reconciliation_halts_the_markets_of_a_broken_currency(scratch):
    from sqlalchemy import insert

    from db.schema import markets
    from scheduler.jobs import Stopped, reconcile_ledger

    admin, app = scratch
    broken, sound, quote = (create_currency(admin) for _ in range(3))
    with admin.begin() as conn:
        for base in (broken, sound):
            conn.execute(insert(markets).values(
                symbol=f"{base}-{quote}", base=base, quote=quote, tick_size=Decimal("0.01"),
                lot_size=Decimal("0.001"), min_notional=Decimal("1"), maker_fee_bps=10,
                taker_fee_bps=20))
    with app.begin() as conn:
        user = create_user(conn)
        deposit(conn, user, broken, Decimal("1"))
        available = account(conn, user, broken, AccountKind.AVAILABLE)
    assert reconcile_ledger(app) == Stopped()
    with admin.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE accounts SET balance = 5 WHERE id = :a"), {"a": available.id})
    assert reconcile_ledger(app) == Stopped([f"{broken}-{quote}"], [broken])
    with app.connect() as conn:
        statuses = dict(conn.execute(text("SELECT symbol, status FROM markets")).all())
        paused = dict(conn.execute(text(
            "SELECT code, withdrawals_paused_reason FROM currencies")).all())
    assert statuses == {f"{broken}-{quote}": "halted", f"{sound}-{quote}": "open"}
    assert paused == {broken: "reconciliation found 1 difference(s) in the ledger, the first: "
                              f"account_balance_differs: account {available.id}: running "
                              "balance 5 over 1 entries, entries sum to 1 over 1",
                      sound: None, quote: None}
