"""The bitcoind driver against two real regtest nodes: ours, and the world's."""

import pytest

from currencies.base import CurrencySettings
from currencies.bitcoind import BitcoindWallet
from tests.currencies.kit import CONFIRMATIONS, DriverKit
from tests.currencies.nodes import driver_on, free_port


@pytest.fixture
def chain(bitcoin_network):
    return bitcoin_network


@pytest.fixture
def driver(engine, admin_engine, settings, chain):
    return driver_on(engine, admin_engine, settings, chain.exchange.url, "bitcoind", 8,
                     CONFIRMATIONS)


@pytest.fixture
def unreachable_driver(engine):
    return BitcoindWallet(CurrencySettings("BTC", 8, 1, f"http://u:p@127.0.0.1:{free_port()}"),
                          engine)


class TestBitcoind(DriverKit):
    def test_the_registry_gives_the_bitcoind_driver(self, driver):
        assert isinstance(driver, BitcoindWallet)
