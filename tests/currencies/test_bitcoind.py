"""The bitcoind driver against two real regtest nodes: ours, and the world's."""

import pytest

from currencies.base import CurrencySettings
from currencies.bitcoind import BitcoindWallet
from currencies.registry import driver_for
from tests.currencies.kit import CONFIRMATIONS, DriverKit
from tests.currencies.nodes import BitcoindNetwork, free_port
from tests.factories import create_currency


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    network = BitcoindNetwork(tmp_path_factory.mktemp("bitcoind"))
    yield network
    network.stop()


@pytest.fixture
def driver(engine, admin_engine, settings, chain, monkeypatch):
    code = create_currency(admin_engine, scale=8, driver="bitcoind",
                           confirmations=CONFIRMATIONS)
    settings = settings.__class__(**{**settings.__dict__,
                                     "node_urls": {code: chain.exchange.url}})
    return driver_for(engine, code, settings)


@pytest.fixture
def unreachable_driver(engine):
    return BitcoindWallet(CurrencySettings("BTC", 8, 1, f"http://u:p@127.0.0.1:{free_port()}"),
                          engine)


class TestBitcoind(DriverKit):
    def test_the_registry_gives_the_bitcoind_driver(self, driver):
        assert isinstance(driver, BitcoindWallet)
