"""Demo data, loaded once by ``make run`` (``python -m admin.demo``); safe to repeat.

Simulated currencies, three markets and two users with funds. Every credit is an
ordinary ledger transfer from the currency's outside world, with a fixed
idempotency key, so a second run changes nothing; the simulated wallet receives
the same amount, so that the wallet check finds what we owe.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

import config
from currencies.base import CurrencySettings
from currencies.simulated import SimulatedChain
from db import engine as engines
from db.schema import currencies, markets, users
from ledger import AccountKind, account, move, post
from users.passwords import hash_password

CURRENCIES = [
    # code, name, scale, confirmations, withdrawal fee, minimum, approval above
    ("BTC", "Bitcoin (simulated)", 8, 2, "0.0001", "0.001", "5"),
    ("ETH", "Ether (simulated)", 18, 3, "0.002", "0.01", "100"),
    ("USDT", "Tether (simulated)", 6, 1, "1", "10", "200000"),
]
SCALES = {code: scale for code, _, scale, *_ in CURRENCIES}
MARKETS = [
    # symbol, tick size, lot size, minimum notional, maker and taker fee in bps
    ("BTC-USDT", "0.01", "0.00001", "1", 10, 20),
    ("ETH-USDT", "0.01", "0.0001", "1", 10, 20),
    ("ETH-BTC", "0.000001", "0.001", "0.0001", 10, 20),
]
PASSWORD = "demo-password"
USERS = ["alice@demo.test", "bob@demo.test"]
FUNDS = {"BTC": Decimal("10"), "ETH": Decimal("200"), "USDT": Decimal("500000")}


def load(conn: Connection) -> None:
    conn.execute(insert(currencies).values([
        {"code": code, "name": name, "scale": scale, "confirmations": confirmations,
         "driver": "simulated", "withdrawal_fee": Decimal(fee),
         "withdrawal_min": Decimal(minimum), "withdrawal_approval_above": Decimal(approval)}
        for code, name, scale, confirmations, fee, minimum, approval in CURRENCIES
    ]).on_conflict_do_nothing())
    conn.execute(insert(markets).values([
        {"symbol": symbol, "base": symbol.split("-")[0], "quote": symbol.split("-")[1],
         "tick_size": Decimal(tick), "lot_size": Decimal(lot), "min_notional": Decimal(notional),
         "maker_fee_bps": maker, "taker_fee_bps": taker}
        for symbol, tick, lot, notional, maker, taker in MARKETS
    ]).on_conflict_do_nothing())
    for email in USERS:
        conn.execute(insert(users).values(email=email, password_hash=hash_password(PASSWORD))
                     .on_conflict_do_nothing())
        user_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar_one()
        for currency, amount in FUNDS.items():
            granted = post(conn, move(f"demo-funds:{email}:{currency}", "demo_grant",
                                      account(conn, None, currency, AccountKind.WORLD),
                                      account(conn, user_id, currency, AccountKind.AVAILABLE),
                                      amount))
            if granted.created:
                SimulatedChain(CurrencySettings(currency, SCALES[currency], 0, None),
                               conn.engine).fund_wallet(conn, amount)


def main() -> None:
    engine = engines.create(config.load().database_admin_url, pooled=False)
    with engine.begin() as conn:
        load(conn)
    engine.dispose()
    print(f"demo data ready: users {', '.join(USERS)} (password {PASSWORD!r})")


if __name__ == "__main__":
    main()
