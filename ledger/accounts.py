"""Accounts: one per (owner, currency, kind), created on first use, never deleted."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Connection, and_, select
from sqlalchemy.dialects.postgresql import insert

from db.schema import accounts, currencies
from ledger.errors import UnknownCurrency

ACCOUNT_CACHE_SIZE_MAX = 100_000


class AccountKind(str, enum.Enum):
    AVAILABLE = "available"                   # a user's spendable funds
    HELD = "held"                             # a user's funds held by orders and withdrawals
    FEES = "fees"                             # the exchange's fee income
    DEPOSITS_IN_TRANSIT = "deposits_in_transit"
    WITHDRAWALS_IN_TRANSIT = "withdrawals_in_transit"
    WORLD = "world"                           # everything outside the exchange; may go negative


USER_KINDS = frozenset({AccountKind.AVAILABLE, AccountKind.HELD})


@dataclass(frozen=True)
class Account:
    id: int
    owner_user_id: int | None
    currency: str
    kind: AccountKind
    scale: int                                # the currency's scale, which never changes


# Accounts are immutable once created, so their identities can be cached for good.
_cache: dict[tuple[int | None, str, AccountKind], Account] = {}


def account(conn: Connection, owner_user_id: int | None, currency: str,
            kind: AccountKind) -> Account:
    """The account of ``owner_user_id`` (None: the exchange) in ``currency`` of ``kind``."""
    kind = AccountKind(kind)
    if (owner_user_id is not None) != (kind in USER_KINDS):
        raise ValueError(f"an account of kind {kind.value} "
                         f"{'needs' if kind in USER_KINDS else 'cannot have'} an owner")
    cache_key = (owner_user_id, currency, kind)
    found = _cache.get(cache_key)
    if found is not None:
        return found
    scale = conn.execute(select(currencies.c.scale).where(currencies.c.code == currency)).scalar()
    if scale is None:
        raise UnknownCurrency(f"unknown currency {currency!r}", field="currency")
    created_id = conn.execute(
        insert(accounts).values(owner_user_id=owner_user_id, currency=currency, kind=kind.value)
        .on_conflict_do_nothing().returning(accounts.c.id)).scalar()
    if created_id is not None:
        # Not cached: this transaction may still roll back and take the account with it.
        return Account(created_id, owner_user_id, currency, kind, scale)
    account_id = conn.execute(select(accounts.c.id).where(and_(
        accounts.c.owner_user_id.is_not_distinct_from(owner_user_id),
        accounts.c.currency == currency,
        accounts.c.kind == kind.value,
    ))).scalar_one()
    found = Account(account_id, owner_user_id, currency, kind, scale)
    if len(_cache) >= ACCOUNT_CACHE_SIZE_MAX:
        _cache.clear()
    _cache[cache_key] = found
    return found


def forget_cached_accounts() -> None:
    """Drop cached identities and scales (tests that recreate their database need this)."""
    from ledger.scales import forget_cached_scales

    _cache.clear()
    forget_cached_scales()
