"""The shared test kit every currency driver passes against its (real or simulated) node.

A driver's test module subclasses ``DriverKit`` and provides two fixtures:
``driver`` (the driver under test) and ``chain`` (an object with ``pay_to(address,
amount) -> txid``, ``mine(blocks)`` and ``foreign_address()`` for a valid address of
another network).
"""

from decimal import Decimal


class DriverKit:
    def test_a_new_deposit_address_is_valid_and_fresh(self, driver):
        first, second = driver.new_deposit_address("user:1"), driver.new_deposit_address("user:1")
        assert first != second
        assert driver.validate_address(first) and driver.validate_address(second)

    def test_malformed_and_foreign_addresses_are_invalid(self, driver, chain):
        good = driver.new_deposit_address("user:2")
        assert not driver.validate_address(good[:-1] + ("0" if good[-1] != "0" else "1"))
        assert not driver.validate_address("")
        assert not driver.validate_address("not an address")
        assert not driver.validate_address(chain.foreign_address())

    def test_a_deposit_is_seen_then_confirmed_block_by_block(self, driver, chain):
        address = driver.new_deposit_address("user:3")
        txid = chain.pay_to(address, Decimal("1.25"))
        seen = driver.scan_deposits(frozenset({address}))
        assert [(d.txid, d.address, d.amount, d.confirmations) for d in seen] == [
            (txid, address, Decimal("1.25"), 0)]
        chain.mine(1)
        assert [d.confirmations for d in driver.scan_deposits(frozenset({address}))] == [1]
        chain.mine(2)
        assert [d.confirmations for d in driver.scan_deposits(frozenset({address}))] == [3]

    def test_payments_to_other_addresses_are_not_ours(self, driver, chain):
        ours, theirs = driver.new_deposit_address("user:4"), driver.new_deposit_address("user:5")
        chain.pay_to(theirs, Decimal("2"))
        chain.mine(1)
        assert driver.scan_deposits(frozenset({ours})) == []

    def test_a_send_is_recorded_under_its_withdrawal_id_and_confirms(self, driver, chain):
        funding = driver.new_deposit_address("hot-wallet")
        chain.pay_to(funding, Decimal("5"))
        chain.mine(1)
        before = driver.wallet_balance()
        assert driver.find_sent("withdrawal:kit-1") is None
        txid = driver.send(chain.foreign_address_of_same_network(), Decimal("1.5"),
                           "withdrawal:kit-1")
        assert driver.find_sent("withdrawal:kit-1") == txid
        assert driver.transaction_confirmations(txid) == 0
        chain.mine(1)
        assert driver.transaction_confirmations(txid) == 1
        assert driver.wallet_balance() == before - Decimal("1.5")

    def test_an_unknown_transaction_has_no_confirmations(self, driver):
        assert driver.transaction_confirmations("0" * 64) == -1
