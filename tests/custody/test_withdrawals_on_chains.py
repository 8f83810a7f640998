"""Withdrawals paid on real chains exactly once, whatever crashes and whoever retries."""

import multiprocessing
import os
import secrets
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from currencies.registry import driver_for
from custody import addresses, deposits, wallets, withdrawals
from custody.errors import WithdrawalRefused
from db import engine as engines
from db.schema import withdrawals as withdrawal_rows
from ledger import reconcile, user_balances
from tests.currencies.nodes import SimulatedWorld, driver_on
from tests.factories import create_currency, create_user, deposit

CONFIRMATIONS = 2
FEE = Decimal("0.0001")
CRASHED = 17


@pytest.fixture(params=["simulated", "bitcoind", "ethereum"])
def chain_and_driver(request, engine, admin_engine, settings):
    if request.param == "simulated":
        code = create_currency(admin_engine, scale=8, confirmations=CONFIRMATIONS,
                               withdrawal_fee=FEE)
        driver = driver_for(engine, code, settings)
        return SimulatedWorld(driver), driver
    if request.param == "bitcoind":
        chain = request.getfixturevalue("bitcoin_network")
        url, scale = chain.exchange.url, 8
    else:
        chain = request.getfixturevalue("anvil_chain")
        url, scale = chain.url, 18
    return chain, driver_on(engine, admin_engine, settings, url, request.param, scale,
                            CONFIRMATIONS, withdrawal_fee=FEE)


def _balances(engine, user_id, code):
    with engine.connect() as conn:
        found = user_balances(conn, user_id)[code]
    return found.available, found.held


def requested(engine, settings, chain, driver, amount="1.25"):
    """A user with a real deposit of 3, and a queued withdrawal of ``amount`` out."""
    with engine.begin() as conn:
        user_id = create_user(conn)
    address, _ = deposits.deposit_address(engine, driver, user_id)
    chain.pay_to(address, Decimal("3"))
    chain.mine(CONFIRMATIONS)
    assert deposits.scan(engine, driver).credited == 1
    driver.consolidate()                  # account chains: the hot wallet pays
    chain.mine(1)
    outside = chain.outside_address()
    addresses.add(engine, driver, settings.secret_key, user_id, outside, "", None,
                  cooling_off_seconds=0)
    found, created = withdrawals.request(engine, driver, settings.secret_key, user_id,
                                         secrets.token_hex(8),
                                         withdrawals.Request(driver.code, outside, amount))
    assert created and found["status"] == "queued"
    return user_id, uuid.UUID(found["id"]), outside


def _status(engine, withdrawal_id):
    with engine.connect() as conn:
        return conn.execute(select(withdrawal_rows.c.status).where(
            withdrawal_rows.c.id == withdrawal_id)).scalar_one()


def _send_then_crash(settings, code, withdrawal_id):
    """In a child process: pay, then die before the payment is recorded."""
    engine = engines.create(settings.database_url, pooled=False)
    driver = driver_for(engine, code, settings)
    pay = driver.send

    def pay_and_die(*args):
        pay(*args)
        os._exit(CRASHED)
    driver.send = pay_and_die
    withdrawals.send(engine, driver, withdrawal_id)


def _settings_for(settings, chain, driver):
    url = getattr(chain, "url", None) or getattr(getattr(chain, "exchange", None), "url", None)
    return settings.__class__(**{**settings.__dict__, "node_urls": {driver.code: url}})


def test_a_crash_between_broadcast_and_record_pays_exactly_once(
        chain_and_driver, engine, settings):
    chain, driver = chain_and_driver
    user_id, withdrawal_id, outside = requested(engine, settings, chain, driver)
    child = multiprocessing.get_context("fork").Process(
        target=_send_then_crash, args=(_settings_for(settings, chain, driver), driver.code,
                                       withdrawal_id))
    child.start()
    child.join(60)
    assert child.exitcode == CRASHED
    assert _status(engine, withdrawal_id) == "sending"     # paid, not recorded
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("1.2501"))
    assert withdrawals.send(engine, driver, withdrawal_id) == "sent"     # the retry finds it
    assert withdrawals.send(engine, driver, withdrawal_id) == "sent"     # and again: no-op
    chain.mine(CONFIRMATIONS)
    assert withdrawals.follow(engine, driver) == {"confirmed": 1, "attention": 0}
    assert chain.received(outside) == Decimal("1.25")
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("0"))
    assert wallets.check(engine, driver).shortfall == 0
    assert reconcile(engine) == []


def test_attempts_at_the_same_time_pay_once(chain_and_driver, engine, settings):
    chain, driver = chain_and_driver
    user_id, withdrawal_id, outside = requested(engine, settings, chain, driver, "0.5")
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(
        withdrawals.send(engine, driver_for(engine, driver.code,
                                            _settings_for(settings, chain, driver)),
                         withdrawal_id))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["sent"] * 4
    chain.mine(1)
    assert chain.received(outside) == Decimal("0.5")
    assert _balances(engine, user_id, driver.code) == (Decimal("2.4999"), Decimal("0"))
    assert reconcile(engine) == []


def _sent_then_undone(anvil_chain, engine, admin_engine, settings):
    """A withdrawal paid on anvil in a block that is then undone, with the node's pool:
    the payment is gone from the node."""
    driver = driver_on(engine, admin_engine, settings, anvil_chain.url, "ethereum", 18,
                       CONFIRMATIONS, withdrawal_fee=FEE)
    user_id, withdrawal_id, outside = requested(engine, settings, anvil_chain, driver)
    mark = anvil_chain.checkpoint()
    assert withdrawals.send(engine, driver, withdrawal_id) == "sent"
    anvil_chain.mine(1)
    anvil_chain.rollback(mark)
    return driver, user_id, withdrawal_id, outside


def test_a_payment_a_reorganisation_drops_is_broadcast_again_and_confirms_once(
        anvil_chain, engine, admin_engine, settings):
    driver, user_id, withdrawal_id, outside = _sent_then_undone(
        anvil_chain, engine, admin_engine, settings)
    assert withdrawals.follow(engine, driver) == {"confirmed": 0, "attention": 0}
    assert _status(engine, withdrawal_id) == "sent"      # its own bytes in the pool again
    anvil_chain.mine(CONFIRMATIONS)
    assert withdrawals.follow(engine, driver) == {"confirmed": 1, "attention": 0}
    assert anvil_chain.received(outside) == Decimal("1.25")
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("0"))
    assert reconcile(engine) == []


def test_a_payment_whose_nonce_another_spent_is_never_re_credited(
        anvil_chain, engine, admin_engine, settings):
    driver, user_id, withdrawal_id, outside = _sent_then_undone(
        anvil_chain, engine, admin_engine, settings)
    index, hot = driver.hot_wallet()   # another payment of the same nonce (a key that leaked)
    nonce = int(anvil_chain.rpc.call("eth_getTransactionCount", hot, "latest"), 16)
    raw, _ = driver._signed_transfer(index, anvil_chain.outside_address(), 1, nonce,
                                     int(anvil_chain.rpc.call("eth_gasPrice"), 16))
    anvil_chain.rpc.call("eth_sendRawTransaction", raw)
    anvil_chain.mine(CONFIRMATIONS)
    assert withdrawals.follow(engine, driver) == {"confirmed": 0, "attention": 1}
    assert _status(engine, withdrawal_id) == "attention"
    assert anvil_chain.received(outside) == Decimal("0")
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("0"))
    assert reconcile(engine) == []


def test_an_underfunded_wallet_puts_the_withdrawal_back_in_the_queue(
        engine, admin_engine, settings):
    code = create_currency(admin_engine, scale=8, confirmations=1, withdrawal_fee=FEE)
    driver = driver_for(engine, code, settings)
    with engine.begin() as conn:
        user_id = create_user(conn)
        deposit(conn, user_id, code, Decimal("2"))    # in the books, not in the wallet
    outside = SimulatedWorld(driver).outside_address()
    addresses.add(engine, driver, settings.secret_key, user_id, outside, "", None, 0)
    found, _ = withdrawals.request(engine, driver, settings.secret_key, user_id, "key-00001",
                                   withdrawals.Request(code, outside, "1"))
    withdrawal_id = uuid.UUID(found["id"])
    assert withdrawals.send(engine, driver, withdrawal_id) == "queued"
    assert withdrawals.cancel(engine, user_id, withdrawal_id)["status"] == "cancelled"
    assert _balances(engine, user_id, code) == (Decimal("2"), Decimal("0"))
    # The wallet holds less than we owe: withdrawals pause until an operator looks.
    check = wallets.check(engine, driver)
    assert (check.wallet, check.owed, check.shortfall) == (0, Decimal("2"), Decimal("2"))
    with pytest.raises(WithdrawalRefused) as refused:
        withdrawals.request(engine, driver, settings.secret_key, user_id, "key-00002",
                            withdrawals.Request(code, outside, "1"))
    assert refused.value.code == "withdrawals_paused"
    assert _balances(engine, user_id, code) == (Decimal("2"), Decimal("0"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM wallet_checks WHERE currency = :c"),
                            {"c": code}).scalar_one() == 1
    assert reconcile(engine) == []


def test_a_payment_the_node_refuses_fails_and_returns_the_funds(bitcoin_network, engine,
                                                                admin_engine, settings):
    # Configured finer than the chain (10 decimals): the node refuses the amount.
    driver = driver_on(engine, admin_engine, settings, bitcoin_network.exchange.url,
                       "bitcoind", 10, CONFIRMATIONS, withdrawal_fee=FEE)
    with engine.begin() as conn:
        user_id = create_user(conn)
        deposit(conn, user_id, driver.code, Decimal("1"))
    outside = bitcoin_network.outside_address()
    addresses.add(engine, driver, settings.secret_key, user_id, outside, "", None, 0)
    found, _ = withdrawals.request(engine, driver, settings.secret_key, user_id, "refused-1",
                                   withdrawals.Request(driver.code, outside, "0.5000000001"))
    withdrawal_id = uuid.UUID(found["id"])
    assert _balances(engine, user_id, driver.code) == (Decimal("0.4998999999"),
                                                       Decimal("0.5001000001"))
    assert withdrawals.send(engine, driver, withdrawal_id) == "failed"
    assert _status(engine, withdrawal_id) == "failed"
    assert _balances(engine, user_id, driver.code) == (Decimal("1"), Decimal("0"))
    assert bitcoin_network.received(outside) == 0
