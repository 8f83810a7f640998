"""Deposits: one address per user and currency, chain scans, credit exactly once.

A scan records every payment to our addresses idempotently (txid plus output or
log index) with its confirmations, and credits a deposit when it reaches the
currency's threshold: in one transaction the row turns ``credited`` and the ledger
moves the amount from the world to the user. A payment that a reorganisation takes
back falls to zero confirmations and must reach the threshold again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import Connection, Engine, and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from currencies.base import ChainDeposit, CurrencyDriver
from db.schema import deposit_addresses, deposits
from ledger import AccountKind, account, move, post

# Blocks below the last scanned tip that each scan looks at again, for reorganisations.
REORG_MARGIN_BLOCKS = 12


@dataclass(frozen=True)
class ScanResult:
    seen: int           # payments to our addresses the scan looked at
    credits: tuple[tuple[int, str, Decimal], ...] = ()   # (user, currency, amount) credited

    @property
    def credited(self) -> int:
        """Deposits credited by this scan."""
        return len(self.credits)


def deposit_address(engine: Engine, driver: CurrencyDriver, user_id: int) -> tuple[str, bool]:
    """The user's address for the driver's currency, and whether it was just made."""
    found = _address_of(engine, driver.code, user_id)
    if found is not None:
        return found, False
    fresh = driver.new_deposit_address(f"user:{user_id}")
    tip = driver.tip_height()
    with engine.begin() as conn:
        created = conn.execute(insert(deposit_addresses).values(
            currency=driver.code, address=fresh, user_id=user_id)
            .on_conflict_do_nothing().returning(deposit_addresses.c.address)).scalar()
        # The first address of a currency starts its scans at today's tip, not at genesis.
        conn.execute(text("INSERT INTO deposit_scans (currency, height) VALUES (:c, :h) "
                          "ON CONFLICT DO NOTHING"), {"c": driver.code, "h": tip})
    if created is None:              # a concurrent request made one first: theirs it is
        return _address_of(engine, driver.code, user_id), False
    return created, True


def _address_of(engine: Engine, currency: str, user_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(deposit_addresses.c.address).where(
            deposit_addresses.c.currency == currency,
            deposit_addresses.c.user_id == user_id)).scalar()


def scan(engine: Engine, driver: CurrencyDriver) -> ScanResult:
    """Look for payments to our addresses, record them, credit those deep enough."""
    code = driver.code
    with engine.connect() as conn:
        owners = dict(conn.execute(select(deposit_addresses.c.address, deposit_addresses.c.user_id)
                                   .where(deposit_addresses.c.currency == code)).all())
        cursor = conn.execute(text("SELECT height FROM deposit_scans WHERE currency = :c"),
                              {"c": code}).scalar()
        lowest_pending = conn.execute(select(func.min(deposits.c.block_height)).where(
            deposits.c.currency == code, deposits.c.status == "pending")).scalar()
    if not owners or cursor is None:
        return ScanResult(0)
    tip = driver.tip_height()
    from_height = max(0, min(cursor, lowest_pending if lowest_pending is not None else cursor)
                      - REORG_MARGIN_BLOCKS)
    found = [payment for payment in driver.scan_deposits(frozenset(owners), from_height)
             if _at_scale(payment.amount, driver.scale) > 0]
    with engine.begin() as conn:
        _record(conn, code, driver.scale, found, owners, from_height)
        conn.execute(text("UPDATE deposit_scans SET height = :h, scanned_at = now() "
                          "WHERE currency = :c"), {"c": code, "h": tip})
    return ScanResult(len(found), _credit_ready(engine, code, max(driver.confirmations, 1)))


def _at_scale(amount: Decimal, scale: int) -> Decimal:
    """Chain precision beyond the currency's scale stays in the wallet (as the
    exchange's surplus), so that the ledger never holds more than the chain paid."""
    return amount.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_DOWN)


def _record(conn: Connection, code: str, scale: int, found: list[ChainDeposit],
            owners: dict[str, int], from_height: int) -> None:
    seen = set()
    for payment in found:
        seen.add((payment.txid, payment.output_index))
        statement = insert(deposits).values(
            currency=code, txid=payment.txid, output_index=payment.output_index,
            address=payment.address, user_id=owners[payment.address],
            amount=_at_scale(payment.amount, scale), confirmations=payment.confirmations,
            block_height=payment.block_height)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["currency", "txid", "output_index"],
            set_={"confirmations": statement.excluded.confirmations,
                  "block_height": statement.excluded.block_height},
            where=deposits.c.status == "pending"))
    # Pending payments the chain no longer shows in the scanned range were taken back by
    # a reorganisation or replaced: they start again from zero if they ever come back.
    pending = conn.execute(select(deposits.c.id, deposits.c.txid, deposits.c.output_index).where(
        deposits.c.currency == code, deposits.c.status == "pending",
        (deposits.c.block_height.is_(None)) | (deposits.c.block_height >= from_height))).all()
    gone = [row.id for row in pending if (row.txid, row.output_index) not in seen]
    if gone:
        conn.execute(update(deposits).where(deposits.c.id.in_(gone))
                     .values(confirmations=0, block_height=None))


def _credit_ready(engine: Engine, code: str, needed: int
                  ) -> tuple[tuple[int, str, Decimal], ...]:
    with engine.connect() as conn:
        ready = conn.execute(select(deposits.c.id).where(
            deposits.c.currency == code, deposits.c.status == "pending",
            deposits.c.confirmations >= needed).order_by(deposits.c.id)).scalars().all()
    return tuple(found for deposit_id in ready
                 if (found := credit(engine, deposit_id, needed)) is not None)


def credit(engine: Engine, deposit_id: int, needed: int) -> tuple[int, str, Decimal] | None:
    """Credit one deposit if it is still pending and deep enough; (user, currency, amount)
    if this call did."""
    with engine.begin() as conn:
        row = conn.execute(select(deposits).where(and_(
            deposits.c.id == deposit_id, deposits.c.status == "pending",
            deposits.c.confirmations >= needed)).with_for_update()).first()
        if row is None:
            return None
        posted = post(conn, move(
            f"deposit:{row.currency}:{row.txid}:{row.output_index}", "deposit",
            account(conn, None, row.currency, AccountKind.WORLD),
            account(conn, row.user_id, row.currency, AccountKind.AVAILABLE),
            row.amount, f"deposit:{row.id}"))
        conn.execute(update(deposits).where(deposits.c.id == deposit_id).values(
            status="credited", transfer_id=posted.id, credited_at=func.now()))
    return row.user_id, row.currency, row.amount
