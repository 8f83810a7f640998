"""Balances read from each account's running total: the same cost for any history length."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from typing import Any, Iterable

from sqlalchemy import Connection, Engine, select, text

from db import round_trips
from db.schema import accounts
from ledger.accounts import Account, AccountKind
from ledger.scales import scales as currency_scales
from ledger.scales import scales_of

# Bots poll their balances every few seconds: one prepared statement, planned once per
# connection, by the unique index on (owner_user_id, currency, kind).
_USER_BALANCES = round_trips.Prepared("ledger_user_balances", text("""
    SELECT currency, kind, balance FROM accounts
     WHERE owner_user_id = CAST(:user_id AS bigint) ORDER BY currency"""))


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
    rows = round_trips.execute(conn, _USER_BALANCES.execute, {"user_id": user_id}).all()
    return _by_currency(rows, lambda codes: currency_scales(conn, codes))


def user_balances_now(engine: Engine, user_id: int) -> dict[str, UserBalance]:
    """``user_balances`` in one round trip on a connection of ``engine`` (in autocommit
    mode: as committed when the statement began, so everything the caller was told was
    done, such as an order's hold)."""
    rows = round_trips.read(engine, _USER_BALANCES, {"user_id": user_id})
    return _by_currency(rows, lambda codes: scales_of(engine, codes))


def _by_currency(rows: Iterable[Any], scales_of_codes: Any) -> dict[str, UserBalance]:
    found: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        found.setdefault(row.currency, {})[row.kind] = row.balance
    scales = scales_of_codes(found)
    return {
        currency: UserBalance(currency, scales[currency],
                              kinds.get(AccountKind.AVAILABLE.value, Decimal(0)),
                              kinds.get(AccountKind.HELD.value, Decimal(0)))
        for currency, kinds in found.items()
    }
