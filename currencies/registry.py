"""Which driver serves which currency: configuration, not code.

A currency row names its driver family; adding a coin of an existing family is a
row in ``currencies``, adding a family is one module and one line here.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import Engine, select

import config
from currencies.base import CurrencyDriver, CurrencySettings
from currencies.bitcoind import BitcoindWallet
from currencies.errors import UnknownDriver
from currencies.ethereum import EthereumWallet
from currencies.simulated import SimulatedChain
from db.schema import currencies
from ledger.errors import UnknownCurrency

DriverFactory = Callable[[CurrencySettings, Engine], CurrencyDriver]

DRIVERS: dict[str, DriverFactory] = {
    "simulated": SimulatedChain,
    "bitcoind": BitcoindWallet,
    "ethereum": EthereumWallet,
}


def driver_for(engine: Engine, code: str, settings: config.Settings | None = None
               ) -> CurrencyDriver:
    settings = settings or config.load()
    with engine.connect() as conn:
        row = conn.execute(select(currencies).where(currencies.c.code == code)).first()
    if row is None:
        raise UnknownCurrency(f"unknown currency {code!r}", field="currency")
    factory = DRIVERS.get(row.driver)
    if factory is None:
        raise UnknownDriver(f"currency {code} names driver {row.driver!r}, which does not exist")
    return factory(CurrencySettings(row.code, row.scale, row.confirmations,
                                    settings.node_urls.get(row.code), settings.wallet_seed),
                   engine)
