"""The Ethereum driver against a real anvil node."""

import pytest

from currencies.base import CurrencySettings
from currencies.ethereum import EthereumWallet
from tests.currencies.kit import CONFIRMATIONS, DriverKit
from tests.currencies.nodes import driver_on, free_port


@pytest.fixture
def chain(anvil_chain):
    return anvil_chain


@pytest.fixture
def driver(engine, admin_engine, settings, chain):
    return driver_on(engine, admin_engine, settings, chain.url, "ethereum", 18,
                     CONFIRMATIONS)


@pytest.fixture
def unreachable_driver(engine):
    return EthereumWallet(CurrencySettings("ETH", 18, 1, f"http://127.0.0.1:{free_port()}",
                                           b"s" * 32), engine)


class TestEthereum(DriverKit):
    def test_the_registry_gives_the_ethereum_driver(self, driver):
        assert isinstance(driver, EthereumWallet)

    def test_consolidation_sweeps_deposits_into_the_hot_wallet(self, driver, chain):
        from decimal import Decimal

        def balance(address):
            return Decimal(int(chain.rpc.call("eth_getBalance", address, "latest"), 16)
                           ).scaleb(-18)

        deposit_address = driver.new_deposit_address("user:sweep")
        chain.pay_to(deposit_address, Decimal("2"))
        chain.mine(1)
        before, hot = driver.wallet_balance(), driver.hot_wallet()[1]
        hot_before = balance(hot)
        # Not as deep as a deposit must be to count: not spent (a reorganisation may take
        # it out of the chain).
        for _ in range(CONFIRMATIONS - 2):
            driver.consolidate()
            chain.mine(1)
            assert (balance(deposit_address), balance(hot)) == (Decimal(2), hot_before)
        driver.consolidate()
        chain.pay_to(deposit_address, Decimal("0.5"))
        chain.mine(1)
        # The 2 exactly as deep as a deposit must be: swept; the 0.5, one block deep, stays.
        driver.consolidate()
        driver.consolidate()                   # a second call while the sweep is pending
        chain.mine(1)
        swept = balance(hot) - hot_before
        assert Decimal("1.99") < swept < Decimal("2")
        # Nor later while the sweep itself is shallower than that: its address's balance
        # that deep is the one it spent.
        for _ in range(CONFIRMATIONS - 1):
            driver.consolidate()
            chain.mine(1)
            assert (balance(deposit_address), balance(hot)) == (Decimal("0.5"),
                                                                hot_before + swept)
        driver.consolidate()
        chain.mine(1)
        assert balance(deposit_address) == 0
        assert Decimal("0.49") < balance(hot) - hot_before - swept < Decimal("0.5")
        fees = Decimal("2.5") - (balance(hot) - hot_before)
        assert driver.wallet_balance() == before + Decimal("0.5") - fees

