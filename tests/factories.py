"""Test data with unique names, so tests share one database without touching each other."""

from __future__ import annotations

import itertools
import secrets
import string
from decimal import Decimal

from sqlalchemy import Connection, Engine, insert

from db.schema import currencies, users
from ledger import AccountKind, account, move, post

_counter = itertools.count()


def unique_code(prefix: str = "T") -> str:
    alphabet = string.ascii_uppercase
    return prefix + "".join(secrets.choice(alphabet) for _ in range(7))


def create_currency(admin_engine: Engine, scale: int = 8, code: str | None = None,
                    driver: str = "simulated", confirmations: int = 1, **withdrawals) -> str:
    """A currency; ``withdrawals`` sets its withdrawal_* columns (fee, min, max...)."""
    code = code or unique_code()
    with admin_engine.begin() as conn:
        conn.execute(insert(currencies).values(code=code, name=code, scale=scale,
                                               confirmations=confirmations, driver=driver,
                                               **withdrawals))
    return code


def create_user(conn: Connection) -> int:
    email = f"user{next(_counter)}-{secrets.token_hex(4)}@example.test"
    return conn.execute(insert(users).values(email=email, password_hash="x")
                        .returning(users.c.id)).scalar_one()


def deposit(conn: Connection, user_id: int, currency: str, amount: Decimal) -> None:
    """Credit a user from the currency's outside world, as a confirmed deposit does."""
    post(conn, move(f"test-deposit:{secrets.token_hex(8)}", "deposit",
                    account(conn, None, currency, AccountKind.WORLD),
                    account(conn, user_id, currency, AccountKind.AVAILABLE), amount))
