"""Balances read from each account's running total: the same cost for any history length."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, select

from db.schema import accounts, currencies
from ledger.accounts import Account, AccountKind


@dataclass(frozen=True)
class UserBalance:
    currency: str
    scale: int
    available: Decimal
    held: Decimal

    @property
    def total(self) -> Decimal:
        return self.available + self.held


def balance(conn: Connection, account: Account) -> Decimal:
    found: Decimal = conn.execute(select(accounts.c.balance).where(
        accounts.c.id == account.id)).scalar_one()
    return found


def user_balances(conn: Connection, user_id: int) -> dict[str, UserBalance]:
    """Every currency the user has ever held, with available and held amounts."""
    rows = conn.execute(
        select(accounts.c.currency, accounts.c.kind, accounts.c.balance, currencies.c.scale)
        .join(currencies, currencies.c.code == accounts.c.currency)
        .where(accounts.c.owner_user_id == user_id)
        .order_by(accounts.c.currency)
    ).all()
    found: dict[str, dict[str, Decimal]] = {}
    scales: dict[str, int] = {}
    for row in rows:
        found.setdefault(row.currency, {})[row.kind] = row.balance
        scales[row.currency] = row.scale
    return {
        currency: UserBalance(currency, scales[currency],
                              kinds.get(AccountKind.AVAILABLE.value, Decimal(0)),
                              kinds.get(AccountKind.HELD.value, Decimal(0)))
        for currency, kinds in found.items()
    }
