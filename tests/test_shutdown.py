"""SIGTERM to each process in the middle of its work: it finishes or hands back its
current job, exits 0, and nothing is lost or done twice."""

import random
import signal
import threading
import time
from decimal import Decimal

import requests
from sqlalchemy import text

from currencies.registry import driver_for
from custody import addresses, deposits, withdrawals
from ledger import reconcile, user_balances
from tests.api.client import Client
from tests.api.conftest import signed_up
from tests.currencies.nodes import SimulatedWorld
from tests.factories import create_currency, create_user
from tests.workers.test_matcher_faults import (
    database_trades,
    place_random,
    replayed_trades,
    traders,
    wait_until_done,
)
from tests.processes import Process, free_port, wait_for_http
from tests.trading import assert_consistent, create_market

STOP_SECONDS_MAX = 30


def _stop(process: Process) -> int:
    started = time.monotonic()
    code = process.stop(signal.SIGTERM)
    assert time.monotonic() - started < STOP_SECONDS_MAX
    return code


def test_sigterm_to_web_mid_requests_keeps_every_accepted_order(settings, engine,
                                                                 admin_engine, tmp_path):
    market = create_market(admin_engine)
    port = free_port()
    web = Process("web", tmp_path, PORT=str(port), RATE_LIMIT_PER_IP="100000/minute",
                  RATE_LIMIT_PER_USER="100000/minute")
    base_url = f"http://127.0.0.1:{port}"
    wait_for_http(base_url + "/healthz", web)
    seller = signed_up(base_url)
    funded = seller.post("/v1/faucet", {"currency": market.split("-")[0], "amount": "1000"})
    assert funded.status_code == 201
    accepted, failed, busy = [], [], threading.Event()

    def send(first):
        client = Client(base_url, seller.token)          # a connection of its own
        for n in range(first, first + 25):
            try:
                response = client.post("/v1/orders", {
                    "market": market, "side": "sell", "type": "limit", "quantity": "1",
                    "price": f"{100 + n}.00", "client_order_id": f"order-{n}"})
            except requests.ConnectionError:
                failed.append(f"order-{n}")       # no answer: the outcome is unknown
                continue
            assert response.status_code == 202, response.text
            accepted.append(f"order-{n}")
            if len(accepted) >= 30:
                busy.set()
    threads = [threading.Thread(target=send, args=(25 * t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    assert busy.wait(30)
    assert _stop(web) == 0                        # mid-requests
    for thread in threads:
        thread.join()
    assert len(accepted) + len(failed) == 200 and accepted
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT client_order_id FROM orders WHERE market = :m"),
                              {"m": market}).scalars().all()
    # Every answered order is kept, none twice; an unanswered one is there or not (a
    # client asks by its client_order_id), never anything that was not sent.
    assert len(stored) == len(set(stored))
    assert set(accepted) <= set(stored) <= set(accepted) | set(failed)
    assert_consistent(engine)


def test_sigterm_to_the_matcher_mid_run_hands_back_the_rest(settings, engine, admin_engine,
                                                            tmp_path):
    from events.publishing import wake

    market = create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)
    users = traders(engine, market)
    place_random(engine, market, users, random.Random(11), 3000)
    matcher = Process("matcher", tmp_path, MATCHER_BATCH_REQUESTS="10")
    matcher.wait_for_output("ready for action")
    wake(market)
    while not _settled(engine, market):           # the first batch is in
        time.sleep(0.01)
    assert _stop(matcher) == 0
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM matcher_requests WHERE market = :m "
                                 "AND processed_at IS NULL"), {"m": market}).scalar_one()
    assert left > 0                            # it stopped between batches, mid-work
    assert_consistent(engine)
    matcher = Process("matcher", tmp_path)
    matcher.wait_for_output("ready for action")
    wait_until_done(engine, market, wake)
    assert _stop(matcher) == 0
    assert database_trades(engine, market) == replayed_trades(engine, market)
    assert_consistent(engine)


def _settled(engine, market) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM matcher_requests WHERE market = :m "
                                 "AND processed_at IS NOT NULL"), {"m": market}).scalar_one()


def test_sigterm_to_the_worker_mid_withdrawals_pays_each_once(settings, engine, admin_engine,
                                                              tmp_path):
    from scheduler.jobs import follow_withdrawals
    from workers.withdrawals import send_withdrawal

    code = create_currency(admin_engine, scale=8, confirmations=1,
                           withdrawal_fee=Decimal("0.001"))
    driver = driver_for(engine, code)
    chain = SimulatedWorld(driver)
    with engine.begin() as conn:
        user_id = create_user(conn)
    address, _ = deposits.deposit_address(engine, driver, user_id)
    chain.pay_to(address, Decimal("100"))
    chain.mine(1)
    deposits.scan(engine, driver)
    outside = [chain.outside_address() for _ in range(40)]
    for n, destination in enumerate(outside):
        addresses.add(engine, driver, settings.secret_key, user_id, destination, "", None, 0)
        found, _ = withdrawals.request(engine, driver, settings.secret_key, user_id,
                                       f"shutdown-{n:04d}",
                                       withdrawals.Request(code, destination, "1"))
        send_withdrawal.send(found["id"], code)
    worker = Process("worker", tmp_path)
    worker.wait_for_output("withdrawal ")          # at work
    assert _stop(worker) == 0
    worker = Process("worker", tmp_path)
    worker.wait_for_output("ready for action")
    deadline = time.monotonic() + 60
    while True:
        follow_withdrawals(engine, settings, lambda wid, c: send_withdrawal.send(wid, c))
        with engine.connect() as conn:
            statuses = conn.execute(text("SELECT status, count(*) FROM withdrawals WHERE "
                                         "currency = :c GROUP BY status"), {"c": code}).all()
        if dict(statuses) == {"sent": 40}:
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.5)
    assert _stop(worker) == 0
    assert [chain.received(a) for a in outside] == [Decimal("1")] * 40
    with engine.connect() as conn:
        balance = user_balances(conn, user_id)[code]
    assert (balance.available, balance.held) == (Decimal("59.96"), Decimal("0"))
    assert reconcile(engine) == []


def test_sigterm_to_the_scheduler_mid_scan_credits_each_deposit_once(settings, engine,
                                                                     admin_engine, tmp_path):
    code = create_currency(admin_engine, scale=8, confirmations=1)
    driver = driver_for(engine, code)
    chain = SimulatedWorld(driver)
    with engine.begin() as conn:
        users = [create_user(conn) for _ in range(30)]
    for user_id in users:
        address, _ = deposits.deposit_address(engine, driver, user_id)
        chain.pay_to(address, Decimal("0.5"))
    chain.mine(1)
    scheduler = Process("scheduler", tmp_path, DEMO_MODE="false")
    scheduler.wait_for_output("leading")
    assert _stop(scheduler) == 0
    scheduler = Process("scheduler", tmp_path, DEMO_MODE="false")
    scheduler.wait_for_output("leading")
    deadline = time.monotonic() + 30
    while True:
        with engine.connect() as conn:
            credited = conn.execute(text("SELECT count(*) FROM deposits WHERE currency = :c "
                                         "AND status = 'credited'"), {"c": code}).scalar_one()
        if credited == 30:
            break
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert _stop(scheduler) == 0
    with engine.connect() as conn:
        for user_id in users:
            assert user_balances(conn, user_id)[code].available == Decimal("0.5")
    assert reconcile(engine) == []
