"""The shared test kit every currency driver passes against its (real or simulated) node.

A driver's test module subclasses ``DriverKit`` and provides three fixtures:
``driver`` (the driver under test, needing ``CONFIRMATIONS`` confirmations),
``chain`` (the outside world: ``pay_to(address, amount) -> txid``, ``mine(blocks)``,
``checkpoint()`` and ``rollback(mark)``, ``foreign_address()`` of another network and
``outside_address()`` of somebody else on this one) and ``unreachable_driver`` (the
same driver pointed at a node that is not there).
"""

from decimal import Decimal

import pytest
from sqlalchemy import select

from currencies.errors import TemporaryNodeError
from custody import deposits
from db.schema import deposits as deposit_rows
from ledger import reconcile, user_balances
from tests.factories import create_user

CONFIRMATIONS = 3


def _confirmations(driver, address, since):
    return [(d.amount, d.confirmations) for d in driver.scan_deposits(frozenset({address}), since)]


def _available(engine, user_id, currency) -> Decimal:
    with engine.connect() as conn:
        found = user_balances(conn, user_id).get(currency)
    return found.available if found else Decimal(0)


class DriverKit:
    # The driver against its node.

    def test_a_new_deposit_address_is_valid_and_fresh(self, driver):
        first, second = driver.new_deposit_address("user:1"), driver.new_deposit_address("user:1")
        assert first != second
        assert driver.validate_address(first) and driver.validate_address(second)

    def test_malformed_and_foreign_addresses_are_invalid(self, driver, chain):
        good = driver.new_deposit_address("user:2")
        assert driver.validate_address(chain.outside_address())
        assert not driver.validate_address(good[:-1] + ("0" if good[-1] != "0" else "1"))
        assert not driver.validate_address(good[:-1])
        assert not driver.validate_address("")
        assert not driver.validate_address("not an address")
        assert not driver.validate_address(chain.foreign_address())

    def test_a_deposit_is_seen_then_confirmed_block_by_block(self, driver, chain):
        address, since = driver.new_deposit_address("user:3"), driver.tip_height()
        txid = chain.pay_to(address, Decimal("1.25"))
        seen = driver.scan_deposits(frozenset({address}), since)
        assert [(d.txid, d.address, d.amount, d.confirmations, d.block_height)
                for d in seen] == [(txid, address, Decimal("1.25"), 0, None)]
        height = chain.mine(1)
        (mined,) = driver.scan_deposits(frozenset({address}), since)
        assert (mined.confirmations, mined.block_height) == (1, height)
        chain.mine(2)
        assert _confirmations(driver, address, since) == [(Decimal("1.25"), 3)]
        assert _confirmations(driver, address, height + 1) == []   # before the range scanned

    def test_payments_to_other_addresses_are_not_ours(self, driver, chain):
        ours, theirs = driver.new_deposit_address("user:4"), driver.new_deposit_address("user:5")
        since = driver.tip_height()
        chain.pay_to(theirs, Decimal("2"))
        chain.mine(1)
        assert driver.scan_deposits(frozenset({ours}), since) == []

    def test_a_reorganisation_takes_confirmations_back(self, driver, chain):
        address, since = driver.new_deposit_address("user:6"), driver.tip_height()
        mark = chain.checkpoint()
        chain.pay_to(address, Decimal("0.75"))
        chain.mine(2)
        assert _confirmations(driver, address, since) == [(Decimal("0.75"), 2)]
        chain.rollback(mark)
        # Back in the mempool (UTXO chains) or gone with the blocks (account chains).
        assert _confirmations(driver, address, since) in ([], [(Decimal("0.75"), 0)])

    def test_a_send_is_recorded_under_its_withdrawal_id_and_confirms(self, driver, chain):
        chain.pay_to(driver.new_deposit_address("hot-wallet"), Decimal("5"))
        chain.mine(CONFIRMATIONS)
        before = driver.wallet_balance()
        assert driver.find_sent("withdrawal:kit-1") is None
        txid = driver.send(chain.outside_address(), Decimal("1.5"), "withdrawal:kit-1")
        assert driver.find_sent("withdrawal:kit-1") == txid
        assert driver.transaction_confirmations(txid) == 0
        chain.mine(1)
        assert driver.transaction_confirmations(txid) == 1
        chain.mine(1)
        assert driver.transaction_confirmations(txid) == 2
        fee = driver.sent_fee(txid)
        assert Decimal(0) <= fee < Decimal("0.01")
        assert driver.wallet_balance() == before - Decimal("1.5") - fee

    def test_an_unknown_transaction_has_no_confirmations(self, driver):
        assert driver.transaction_confirmations("0" * 64) == -1
        assert driver.transaction_confirmations("not a txid") == -1

    def test_an_unreachable_node_is_a_temporary_error(self, unreachable_driver):
        with pytest.raises(TemporaryNodeError):
            unreachable_driver.tip_height()

    # The exchange's deposits against the driver.

    def test_a_deposit_is_credited_once_and_only_at_the_threshold(self, driver, chain, engine):
        with engine.begin() as conn:
            user_id = create_user(conn)
        address, created = deposits.deposit_address(engine, driver, user_id)
        assert created and deposits.deposit_address(engine, driver, user_id) == (address, False)
        chain.pay_to(address, Decimal("0.4"))
        for blocks in range(CONFIRMATIONS):
            deposits.scan(engine, driver)
            assert _available(engine, user_id, driver.code) == 0, f"credited at {blocks}"
            chain.mine(1)
        assert deposits.scan(engine, driver).credited == 1
        assert _available(engine, user_id, driver.code) == Decimal("0.4")
        chain.mine(2)
        assert deposits.scan(engine, driver).credited == 0
        assert _available(engine, user_id, driver.code) == Decimal("0.4")
        with engine.connect() as conn:
            (row,) = conn.execute(select(deposit_rows).where(
                deposit_rows.c.user_id == user_id)).all()
        assert (row.status, row.amount, row.confirmations) == ("credited", Decimal("0.4"),
                                                               CONFIRMATIONS)
        assert reconcile(engine) == []

    def test_a_reorganisation_before_the_threshold_does_not_credit(self, driver, chain, engine):
        with engine.begin() as conn:
            user_id = create_user(conn)
        address, _ = deposits.deposit_address(engine, driver, user_id)
        mark = chain.checkpoint()
        chain.pay_to(address, Decimal("0.3"))
        chain.mine(CONFIRMATIONS - 1)
        deposits.scan(engine, driver)
        chain.rollback(mark)
        deposits.scan(engine, driver)
        with engine.connect() as conn:
            rows = conn.execute(select(deposit_rows.c.confirmations, deposit_rows.c.status)
                                .where(deposit_rows.c.user_id == user_id)).all()
        assert [tuple(r) for r in rows] == [(0, "pending")]
        chain.mine(1)                 # the new chain: at most one confirmation, not three
        deposits.scan(engine, driver)
        assert _available(engine, user_id, driver.code) == 0
        assert reconcile(engine) == []
