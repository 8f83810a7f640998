import hashlib
import secrets

import pytest

from currencies.registry import driver_for
from currencies.simulated import SimulatedChain
from tests.currencies.kit import DriverKit
from tests.factories import create_currency


class SimulatedWorld:
    def __init__(self, driver: SimulatedChain) -> None:
        self.driver = driver

    def pay_to(self, address, amount):
        return self.driver.pay_to(address, amount)

    def mine(self, blocks):
        return self.driver.mine(blocks)

    def foreign_address(self):
        body = "simzzz1" + secrets.token_hex(16)
        return body + hashlib.sha256(body.encode()).hexdigest()[:6]

    def foreign_address_of_same_network(self):
        body = self.driver.prefix + secrets.token_hex(16)
        return body + hashlib.sha256(body.encode()).hexdigest()[:6]


@pytest.fixture
def driver(engine, admin_engine):
    return driver_for(engine, create_currency(admin_engine, scale=8))


@pytest.fixture
def chain(driver):
    return SimulatedWorld(driver)


class TestSimulatedChain(DriverKit):
    def test_the_registry_gives_the_simulated_driver(self, driver):
        assert isinstance(driver, SimulatedChain)
        assert (driver.scale, driver.confirmations) == (8, 1)
