"""Each currency's node wallet against what the ledger says we owe on it.

Owed: every user's available and held funds, less withdrawals being sent (their
payment may already have left the wallet). The wallet must hold at least that; it
may hold more (fees earned, deposits not yet credited, dust below our scale). A
shortfall pauses the currency's withdrawals until an operator resumes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, func, select, text

from currencies.base import CurrencyDriver
from custody import pauses
from custody.withdrawals import send_lock_key
from db.schema import accounts, withdrawals
from ledger.accounts import USER_KINDS

log = logging.getLogger("wallets")


@dataclass(frozen=True)
class WalletCheck:
    currency: str
    wallet: Decimal
    owed: Decimal

    @property
    def shortfall(self) -> Decimal:
        return max(self.owed - self.wallet, Decimal(0))


def check(engine: Engine, driver: CurrencyDriver) -> WalletCheck:
    """Compare, record the comparison, and pause withdrawals on a shortfall."""
    code = driver.code
    with engine.begin() as conn:
        # No send is in flight while we look: the balance and the books are of one moment.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": send_lock_key(code)})
        users_hold = conn.execute(select(func.coalesce(func.sum(accounts.c.balance), 0)).where(
            accounts.c.currency == code,
            accounts.c.kind.in_([kind.value for kind in USER_KINDS]))).scalar_one()
        leaving = conn.execute(select(func.coalesce(
            func.sum(withdrawals.c.amount + withdrawals.c.fee), 0)).where(
            withdrawals.c.currency == code, withdrawals.c.status == "sending")).scalar_one()
        found = WalletCheck(code, driver.wallet_balance(), users_hold - leaving)
        conn.execute(text("INSERT INTO wallet_checks (currency, wallet, owed) "
                          "VALUES (:c, :w, :o)"), {"c": code, "w": found.wallet, "o": found.owed})
        if found.shortfall:
            pauses.pause(conn, {code: f"wallet shortfall: the node wallet holds "
                                f"{found.wallet} but users are owed {found.owed}"})
            log.error("%s wallet holds %s but we owe %s: withdrawals paused", code,
                      found.wallet, found.owed)
    return found
