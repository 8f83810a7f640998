"""The bitcoind driver against two real regtest nodes: ours, and the world's."""

from decimal import Decimal

import pytest

from currencies.base import CurrencySettings
from currencies.bitcoind import BitcoindWallet
from currencies.errors import WalletUnderfunded
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

    def test_a_coin_from_outside_is_spent_only_once_as_deep_as_a_deposit_must_be(
            self, driver, chain):
        chain.mine(1)                     # whatever earlier tests left in the mempool
        before = driver.wallet_balance()
        chain.pay_to(driver.new_deposit_address("hot-wallet"), Decimal("5"))
        chain.mine(CONFIRMATIONS)
        deep = sum(coin["amount"] for coin in driver.rpc.call("listunspent", CONFIRMATIONS))
        mark = chain.checkpoint()
        shallow = chain.pay_to(driver.new_deposit_address("user:1"), Decimal("2"))
        chain.mine(1)
        with pytest.raises(WalletUnderfunded):    # payable only with the shallow coin
            driver.send(chain.outside_address(), deep + 1, "withdrawal:deep-1")
        assert driver.find_sent("withdrawal:deep-1") is None

        sends = [driver.send(chain.outside_address(), amount, f"withdrawal:deep-{n}")
                 for n, amount in ((2, Decimal("1.5")), (3, Decimal("1")))]
        for txid in sends:
            assert shallow not in [c["txid"] for c in driver.rpc.call(
                "getrawtransaction", txid, 1)["vin"]]
        fees = sum(driver.sent_fee(txid) for txid in sends)
        chain.rollback(mark)   # the shallow payment undone, and ours dropped from our node's
        chain.mine(1)          # pool (their lock time was past the new tip): offered again,
        assert driver.wallet_balance() == before + Decimal("7") - Decimal("2.5") - fees
        chain.mine(CONFIRMATIONS)                  # their change counts; mined as any
        # (one whose lock time bitcoind set back, as it does one time in ten, stayed valid
        # in the pool and may be a block deeper)
        assert all(driver.transaction_confirmations(txid) >= CONFIRMATIONS for txid in sends)
        assert driver.wallet_balance() == before + Decimal("7") - Decimal("2.5") - fees

