"""A node that refuses us (HTTP 401/403) never gets a payment refunded while it may be live.

Each test puts a real HTTP proxy (``RefusingProxy``) in front of a real node and runs
withdrawals through the real code while the proxy refuses broadcasts and lookups.
"""

import os
import subprocess
import sys
from decimal import Decimal

import pytest
import redis
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

import config
from currencies.jsonrpc import RpcError
from custody import withdrawals
from db.schema import transfers
from db.schema import withdrawals as withdrawal_rows
from ledger import reconcile
from scheduler import jobs
from tests.currencies.nodes import driver_on
from tests.currencies.proxy import RefusingProxy
from tests.custody.test_withdrawals_on_chains import CONFIRMATIONS, FEE, _balances, _status, requested

LOOKUPS = {"eth_getTransactionByHash", "eth_getTransactionReceipt", "eth_getTransactionCount"}


@pytest.fixture
def anvil_proxy(anvil_chain):
    proxy = RefusingProxy(anvil_chain.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def bitcoind_proxy(bitcoin_network):
    proxy = RefusingProxy(bitcoin_network.exchange.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def ethereum(engine, admin_engine, settings, anvil_proxy):
    return driver_on(engine, admin_engine, settings, anvil_proxy.url, "ethereum", 18,
                     CONFIRMATIONS, withdrawal_fee=FEE)


def _attention(engine, withdrawal_id):
    with engine.connect() as conn:
        return conn.execute(select(withdrawal_rows.c.status, withdrawal_rows.c.needs_attention)
                            .where(withdrawal_rows.c.id == withdrawal_id)).one()


def _stored(engine, code, withdrawal_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT nonce, raw, txid FROM wallet_sends WHERE currency = :c "
                                 "AND withdrawal_id = :w"),
                            {"c": code, "w": f"withdrawal:{withdrawal_id}"}).first()


def _releases(engine, withdrawal_id) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(transfers).where(
            transfers.c.kind == "withdrawal_release",
            transfers.c.reference == f"withdrawal:{withdrawal_id}")).scalar_one()


def _nonce(chain, address, block="latest") -> int:
    return int(chain.rpc.call("eth_getTransactionCount", address, block), 16)


def _waiting_for_an_operator(engine, settings) -> tuple[float, int]:
    """The gauge of sending withdrawals that need an operator, and their number."""
    jobs.observe(engine, redis.Redis.from_url(settings.redis_url))
    with engine.connect() as conn:
        flagged = conn.execute(select(func.count()).select_from(withdrawal_rows).where(
            withdrawal_rows.c.needs_attention)).scalar_one()
    return REGISTRY.get_sample_value("exchange_withdrawals_waiting",
                                     {"status": "sending_attention"}), flagged


def _admin(code, node_url, *args):
    return subprocess.run([sys.executable, "-m", "admin", *args], cwd=config.PROJECT_DIR,
                          env={**os.environ, f"NODE_URL_{code}": node_url},
                          capture_output=True, text=True, timeout=60)


def test_a_signed_payment_the_node_refuses_stays_held_and_the_next_one_leaves_no_nonce_gap(
        anvil_chain, anvil_proxy, ethereum, engine, settings):
    chain, driver = anvil_chain, ethereum
    user_a, first, outside_a = requested(engine, settings, chain, driver)
    user_b, second, outside_b = requested(engine, settings, chain, driver, "0.5")
    hot = driver.hot_wallet()[1]
    nonce = _nonce(chain, hot)

    anvil_proxy.refuse({"eth_sendRawTransaction"}, status=403)
    assert withdrawals.send(engine, driver, first) == "sending"
    assert tuple(_attention(engine, first)) == ("sending", True)
    stored = _stored(engine, driver.code, first)
    assert stored.nonce == nonce
    assert chain.rpc.call("eth_getTransactionByHash", stored.txid) is None   # not on the node
    # A refused lookup after a refused send: still nothing is decided.
    anvil_proxy.refuse({"eth_sendRawTransaction", *LOOKUPS}, status=401)
    assert withdrawals.send(engine, driver, first) == "sending"
    assert tuple(_attention(engine, first)) == ("sending", True)
    # The next withdrawal waits, unsigned, rather than take a nonce past the stuck one.
    anvil_proxy.refuse({"eth_sendRawTransaction"}, status=403)
    assert withdrawals.send(engine, driver, second) == "queued"
    assert _stored(engine, driver.code, second) is None
    assert _balances(engine, user_a, driver.code) == (Decimal("1.7499"), Decimal("1.2501"))
    assert _balances(engine, user_b, driver.code) == (Decimal("2.4999"), Decimal("0.5001"))
    assert _releases(engine, first) == 0 and _releases(engine, second) == 0
    assert chain.received(outside_a) == 0 and chain.received(outside_b) == 0
    gauge, flagged = _waiting_for_an_operator(engine, settings)
    assert flagged >= 1 and gauge == flagged
    assert reconcile(engine) == []

    anvil_proxy.refuse(set())
    listed = _admin(driver.code, anvil_proxy.url, "withdrawals")
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()
            if line.startswith(str(first))] == [[str(first), "sending (attention)"]]
    # The stuck one goes out first, then the next one at the nonce after it.
    assert withdrawals.send(engine, driver, second) == "sent"
    assert _stored(engine, driver.code, second).nonce == nonce + 1
    retried = _admin(driver.code, anvil_proxy.url, "withdrawal-retry", str(first))
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == f"withdrawal {first}: sent"
    assert tuple(_attention(engine, first)) == ("sent", False)
    chain.mine(CONFIRMATIONS)
    assert withdrawals.follow(engine, driver) == {"confirmed": 2, "attention": 0}
    assert _nonce(chain, hot) == nonce + 2
    assert chain.received(outside_a) == Decimal("1.25")
    assert chain.received(outside_b) == Decimal("0.5")
    assert _balances(engine, user_a, driver.code) == (Decimal("1.7499"), Decimal("0"))
    assert _balances(engine, user_b, driver.code) == (Decimal("2.4999"), Decimal("0"))
    assert reconcile(engine) == []


def test_a_payment_the_node_took_while_answering_403_is_recorded_once_it_answers(
        anvil_chain, anvil_proxy, ethereum, engine, settings):
    chain, driver = anvil_chain, ethereum
    user_id, withdrawal_id, outside = requested(engine, settings, chain, driver)
    anvil_proxy.refuse({"eth_sendRawTransaction", "eth_getTransactionByHash",
                        "eth_getTransactionReceipt"}, status=403, after_forwarding=True)
    assert withdrawals.send(engine, driver, withdrawal_id) == "sending"
    stored = _stored(engine, driver.code, withdrawal_id)
    assert chain.rpc.call("eth_getTransactionByHash", stored.txid) is not None   # it is live
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("1.2501"))
    assert _releases(engine, withdrawal_id) == 0
    anvil_proxy.refuse(set())
    assert withdrawals.send(engine, driver, withdrawal_id) == "sent"
    chain.mine(CONFIRMATIONS)
    assert withdrawals.follow(engine, driver) == {"confirmed": 1, "attention": 0}
    assert chain.received(outside) == Decimal("1.25")
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("0"))
    assert reconcile(engine) == []


def test_a_refused_payment_is_refunded_only_once_another_transaction_of_its_nonce_is_settled(
        anvil_chain, anvil_proxy, ethereum, engine, settings):
    chain, driver = anvil_chain, ethereum
    user_id, withdrawal_id, outside = requested(engine, settings, chain, driver)
    anvil_proxy.refuse({"eth_sendRawTransaction"}, status=403)
    assert withdrawals.send(engine, driver, withdrawal_id) == "sending"
    stored = _stored(engine, driver.code, withdrawal_id)
    # An operator spends the nonce on something else: a transfer of nothing to the wallet.
    key_index, hot = driver.hot_wallet()
    gas_price = int(chain.rpc.call("eth_gasPrice"), 16)
    replacement, _ = driver._signed_transfer(key_index, hot, 0, stored.nonce, gas_price)
    chain.rpc.call("eth_sendRawTransaction", replacement)
    chain.mine(1)
    # One confirmation: a reorganisation could still bring the payment's nonce back.
    assert withdrawals.send(engine, driver, withdrawal_id) == "sending"
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("1.2501"))
    chain.mine(CONFIRMATIONS - 1)
    assert withdrawals.send(engine, driver, withdrawal_id) == "failed"
    assert tuple(_attention(engine, withdrawal_id)) == ("failed", False)
    assert _balances(engine, user_id, driver.code) == (Decimal("3"), Decimal("0"))
    assert _releases(engine, withdrawal_id) == 1
    with pytest.raises(RpcError):                # the stored payment can never be mined now
        chain.rpc.call("eth_sendRawTransaction", stored.raw)
    chain.mine(1)
    assert chain.received(outside) == 0
    assert reconcile(engine) == []


def test_a_bitcoind_payment_refused_with_http_403_is_held_until_the_node_answers(
        bitcoin_network, bitcoind_proxy, engine, admin_engine, settings):
    driver = driver_on(engine, admin_engine, settings, bitcoind_proxy.url, "bitcoind", 8,
                       CONFIRMATIONS, withdrawal_fee=FEE)
    user_id, withdrawal_id, outside = requested(engine, settings, bitcoin_network, driver)
    bitcoind_proxy.refuse({"sendtoaddress"}, status=403)
    assert withdrawals.send(engine, driver, withdrawal_id) == "sending"
    assert tuple(_attention(engine, withdrawal_id)) == ("sending", True)
    # Now the node pays, but we are told it refused, and cannot look.
    bitcoind_proxy.refuse({"sendtoaddress", "listtransactions"}, status=401,
                          after_forwarding=True)
    assert withdrawals.send(engine, driver, withdrawal_id) == "sending"
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("1.2501"))
    assert _releases(engine, withdrawal_id) == 0
    assert reconcile(engine) == []
    bitcoind_proxy.refuse(set())
    assert withdrawals.send(engine, driver, withdrawal_id) == "sent"      # found, not re-sent
    assert _status(engine, withdrawal_id) == "sent"
    bitcoin_network.mine(CONFIRMATIONS)
    assert withdrawals.follow(engine, driver) == {"confirmed": 1, "attention": 0}
    assert bitcoin_network.received(outside) == Decimal("1.25")
    assert _balances(engine, user_id, driver.code) == (Decimal("1.7499"), Decimal("0"))
    assert reconcile(engine) == []
