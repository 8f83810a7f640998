import pytest
from sqlalchemy import create_engine

from currencies.base import CurrencySettings
from currencies.registry import driver_for
from currencies.simulated import SimulatedChain
from tests.currencies.kit import CONFIRMATIONS, DriverKit
from tests.currencies.nodes import SimulatedWorld
from tests.factories import create_currency


@pytest.fixture
def driver(engine, admin_engine):
    return driver_for(engine, create_currency(admin_engine, scale=8,
                                              confirmations=CONFIRMATIONS))


@pytest.fixture
def chain(driver):
    return SimulatedWorld(driver)


@pytest.fixture
def unreachable_driver():
    return SimulatedChain(CurrencySettings("SIMX", 8, 1, None),
                          create_engine("postgresql+psycopg2://nobody@127.0.0.1:9/none"))


class TestSimulatedChain(DriverKit):
    def test_the_registry_gives_the_simulated_driver(self, driver):
        assert isinstance(driver, SimulatedChain)
        assert (driver.scale, driver.confirmations) == (8, CONFIRMATIONS)

    def test_a_dropped_payment_is_never_credited(self, driver, chain, engine):
        from custody import deposits
        from tests.currencies.kit import _available
        from tests.factories import create_user

        with engine.begin() as conn:
            user_id = create_user(conn)
        address, _ = deposits.deposit_address(engine, driver, user_id)
        txid = chain.pay_to(address, __import__("decimal").Decimal("1"))
        deposits.scan(engine, driver)
        driver.drop(txid)
        chain.mine(CONFIRMATIONS + 1)
        deposits.scan(engine, driver)
        assert _available(engine, user_id, driver.code) == 0
