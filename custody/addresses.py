"""Each user's withdrawal address allow-list: an address is usable only after a
cooling-off period, so that a thief with a session cannot add one and drain at once."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert

from currencies.base import CurrencyDriver
from custody.errors import WithdrawalRefused
from db.schema import withdrawal_addresses
from users import second_factor

ADDRESSES_PER_USER_MAX = 100


def describe(row) -> dict:
    return {"id": str(row.id), "currency": row.currency, "address": row.address,
            "label": row.label, "usable_from": row.usable_from.isoformat(),
            "created_at": row.created_at.isoformat()}


def add(engine: Engine, driver: CurrencyDriver, secret_key: bytes, user_id: int,
        address: str, label: str, totp_code: str | None, cooling_off_seconds: int) -> dict:
    if not driver.validate_address(address):
        raise WithdrawalRefused("invalid_address", f"this is not a valid {driver.code} "
                                "address on our network", "address")
    # Spent in a transaction of its own: a refusal below cannot give the code back.
    second_factor.verify(engine, secret_key, user_id, totp_code, action="withdrawal_address")
    with engine.begin() as conn:
        conn.execute(text("SELECT 1 FROM users WHERE id = :u FOR NO KEY UPDATE"), {"u": user_id})
        count = conn.execute(select(func.count()).select_from(withdrawal_addresses).where(
            withdrawal_addresses.c.user_id == user_id)).scalar_one()
        if count >= ADDRESSES_PER_USER_MAX:
            raise WithdrawalRefused("too_many_addresses", f"at most {ADDRESSES_PER_USER_MAX} "
                                    "withdrawal addresses; remove one first", status=409)
        conn.execute(insert(withdrawal_addresses).values(
            user_id=user_id, currency=driver.code, address=address, label=label,
            usable_from=func.now() + text(f"interval '{int(cooling_off_seconds)} seconds'"))
            .on_conflict_do_nothing())
        row = conn.execute(select(withdrawal_addresses).where(
            withdrawal_addresses.c.user_id == user_id,
            withdrawal_addresses.c.currency == driver.code,
            withdrawal_addresses.c.address == address)).one()
    return describe(row)


def listed(engine: Engine, user_id: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(withdrawal_addresses).where(
            withdrawal_addresses.c.user_id == user_id).order_by(withdrawal_addresses.c.id)).all()
    return [describe(row) for row in rows]


def remove(engine: Engine, user_id: int, address_id: int) -> None:
    with engine.begin() as conn:
        removed = conn.execute(delete(withdrawal_addresses).where(
            withdrawal_addresses.c.id == address_id,
            withdrawal_addresses.c.user_id == user_id)).rowcount
    if removed != 1:
        raise WithdrawalRefused("address_not_found", "no withdrawal address of yours has this "
                                "id", status=404)
