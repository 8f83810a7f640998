"""A deposit and a withdrawal through the real processes: web, worker and scheduler."""

import time
from decimal import Decimal

from sqlalchemy import text

from currencies.registry import driver_for
from tests.currencies.nodes import SimulatedWorld
from tests.factories import create_currency
from tests.processes import Process

WAIT_SECONDS = 30


def eventually(check, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def test_money_in_and_out_through_worker_and_scheduler(alice, engine, admin_engine,
                                                      tmp_path):
    code = create_currency(admin_engine, scale=8, confirmations=2,
                           withdrawal_fee=Decimal("0.01"))
    chain = SimulatedWorld(driver_for(engine, code))
    worker = Process("worker", tmp_path)
    scheduler = Process("scheduler", tmp_path, DEMO_MODE="false")
    try:
        address = alice.post("/v1/deposit-addresses", {"currency": code}).json()["address"]
        chain.pay_to(address, Decimal("4"))
        chain.mine(2)

        def balance():
            found = [b for b in alice.get("/v1/balances").json()["items"]
                     if b["currency"] == code]
            return (found[0]["available"], found[0]["held"]) if found else None
        eventually(lambda: balance() == ("4.00000000", "0.00000000"), "the deposit's credit")

        outside = chain.outside_address()
        allowed = alice.post("/v1/withdrawal-addresses", {"currency": code, "address": outside})
        with admin_engine.begin() as conn:
            conn.execute(text("UPDATE withdrawal_addresses SET usable_from = now() "
                              "WHERE id = :i"), {"i": int(allowed.json()["id"])})
        requested = alice.post("/v1/withdrawals", {"currency": code, "address": outside,
                                                   "amount": "1.5"},
                               headers={"Idempotency-Key": "through-the-worker"}).json()
        path = f"/v1/withdrawals/{requested['id']}"
        eventually(lambda: alice.get(path).json()["status"] == "sent", "the worker's send")
        assert chain.received(outside) == Decimal("1.5")
        assert balance() == ("2.49000000", "0.00000000")
        chain.mine(2)
        done = eventually(lambda: (w := alice.get(path).json())["status"] == "confirmed" and w,
                          "the scheduler's confirmation")
        assert (done["confirmations"], done["txid"] is not None) == (2, True)
        assert chain.received(outside) == Decimal("1.5")
    finally:
        assert worker.stop() == 0
        assert scheduler.stop() == 0
