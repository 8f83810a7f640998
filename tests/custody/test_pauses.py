"""While a currency's withdrawals are paused nothing of it is paid: not a queued withdrawal,
not an interrupted one, and not one whose attempt was under way when the pause came."""

import threading
import time
import uuid
from decimal import Decimal

from sqlalchemy import text

from currencies.registry import driver_for
from custody import pauses, withdrawals
from custody.withdrawals import send_lock_key
from ledger import reconcile
from tests.currencies.nodes import SimulatedWorld
from tests.custody.test_withdrawals_on_chains import CONFIRMATIONS, FEE, _balances, requested
from tests.factories import create_currency


def simulated(engine, admin_engine, settings):
    code = create_currency(admin_engine, scale=8, confirmations=CONFIRMATIONS,
                           withdrawal_fee=FEE)
    driver = driver_for(engine, code, settings)
    return SimulatedWorld(driver), driver


def test_a_paused_currency_pays_neither_a_queued_nor_an_interrupted_withdrawal(
        engine, admin_engine, settings):
    chain, driver = simulated(engine, admin_engine, settings)
    user_id, queued, outside = requested(engine, settings, chain, driver, amount="0.5")
    interrupted, paid = (uuid.UUID(withdrawals.request(
        engine, driver, settings.secret_key, user_id, key,
        withdrawals.Request(driver.code, outside, "0.25"))[0]["id"])
        for key in ("interrupted-1", "interrupted-paid-1"))
    # Two attempts cut short after ``sending`` was committed; the second had paid.
    with engine.begin() as conn:
        conn.execute(text("UPDATE withdrawals SET status = 'sending' WHERE id = ANY(:i)"),
                     {"i": [interrupted, paid]})
    driver.send(outside, Decimal("0.25"), f"withdrawal:{paid}")
    with engine.begin() as conn:
        assert pauses.pause(conn, {driver.code: "a test pauses it"}) == [driver.code]
    assert [withdrawals.send(engine, driver, w) for w in (queued, interrupted, paid)] == [
        "queued", "sending", "sent"]                 # what had left is only recorded
    assert chain.received(outside) == Decimal("0.25")
    assert _balances(engine, user_id, driver.code) == (Decimal("1.9997"), Decimal("0.7502"))
    assert reconcile(engine) == []

    resumed = pauses.resume(engine, driver.code)
    assert (resumed.reason, sorted(resumed.waiting)) == (
        "a test pauses it", sorted([(str(queued), driver.code), (str(interrupted), driver.code)]))
    assert [withdrawals.send(engine, driver, w) for w in (queued, interrupted)] == ["sent"] * 2
    assert chain.received(outside) == Decimal("1")
    assert _balances(engine, user_id, driver.code) == (Decimal("1.9997"), Decimal("0"))
    assert reconcile(engine) == []


def test_a_pause_waits_for_the_payment_attempt_in_flight(engine, admin_engine, settings):
    _, driver = simulated(engine, admin_engine, settings)
    done = threading.Event()

    def pause() -> None:
        with engine.begin() as conn:
            pauses.pause(conn, {driver.code: "while a payment is in flight"})
        done.set()

    with engine.connect() as attempt:       # what withdrawals.send holds across an attempt
        attempt.execute(text("SELECT pg_advisory_lock(:k)"), {"k": send_lock_key(driver.code)})
        attempt.commit()
        pausing = threading.Thread(target=pause)
        pausing.start()
        time.sleep(0.5)
        assert not done.is_set()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT withdrawals_paused FROM currencies WHERE code = :c"),
                                {"c": driver.code}).scalar_one() is False
        attempt.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": send_lock_key(driver.code)})
        attempt.commit()
    pausing.join(10)
    assert done.is_set()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT withdrawals_paused FROM currencies WHERE code = :c"),
                            {"c": driver.code}).scalar_one() is True
