"""Withdrawals, the most dangerous code we have: request, approve, send once, follow.

States and the ledger transfer that goes with each change (same transaction):

    pending_approval ─approve─> queued ─> sending ─> sent ─> confirmed
         │ reject / cancel        │ cancel   │ refused   │ chain lost it
         v                        v          v           v
    rejected / cancelled      cancelled    failed     attention (operators; never re-credited)

    request   available -> held               (amount + fee)
    cancel, reject, failed   held -> available (the same, reversed)
    sent      held -> withdrawals_in_transit (amount) and held -> fees (fee)
    confirmed withdrawals_in_transit -> world (amount)

Sending is exactly once: ``sending`` is committed before the node is called, every
attempt first asks the node for a payment recorded under the withdrawal's id, and
attempts for one currency are serialised by an advisory lock held across the call.
A crash anywhere leaves the withdrawal ``sending``; the next attempt finds the
payment (or that there is none) and goes on from there. While the currency's
withdrawals are paused (``custody.pauses``) an attempt sends nothing: a queued
withdrawal stays queued, an interrupted one is only looked for.

An error of the node leaves ``sending`` on the driver's word alone: ``failed`` (the
funds go back) only on ``PaymentRefused``, the driver's proof that no payment was or
ever can be made; ``queued`` only on ``PaymentDeferred``, nothing signed or sent. Any
other refusal (an HTTP 401/403, a refused lookup, a signed payment the node will not
take) may hide a payment that is out or can still go: the withdrawal stays ``sending``
with ``needs_attention`` set, its funds held, listed for operators and retried, until
an attempt finds it sent or proved refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError

from currencies.base import CurrencyDriver
from currencies.errors import NodeError, PaymentDeferred, PaymentRefused, TemporaryNodeError
from custody.errors import WithdrawalNotCancellable, WithdrawalNotFound, WithdrawalRefused
from db.schema import currencies, withdrawal_addresses, withdrawals
from ledger import AccountKind, Entry, Transfer, account, format_amount, move, parse_amount, post
from users import second_factor
from users.errors import InvalidSecondFactor

CANCELLABLE = ("pending_approval", "queued")
COUNTED_AGAINST_DAILY_LIMIT = ("pending_approval", "queued", "sending", "sent", "confirmed",
                               "attention")
log = logging.getLogger("withdrawals")


@dataclass(frozen=True)
class Request:
    currency: str
    address: str
    amount: str
    totp: str | None = None

    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.currency, self.address, self.amount])
                              .encode()).hexdigest()


def send_lock_key(currency: str) -> int:
    return int.from_bytes(hashlib.sha256(f"withdrawal-send:{currency}".encode()).digest()[:8],
                          "big", signed=True)


def _lock_user(conn: Connection, user_id: int) -> None:
    conn.execute(text("SELECT 1 FROM users WHERE id = :u FOR NO KEY UPDATE"), {"u": user_id})


def request(engine: Engine, driver: CurrencyDriver, secret_key: bytes, user_id: int,
            idempotency_key: str, asked: Request) -> tuple[dict, bool]:
    """Hold the funds and record the withdrawal; (the withdrawal, whether it is new).

    The same key with the same request answers the first withdrawal again; the same key
    with another request is refused. Every refusal leaves nothing held."""
    existing = _by_key(engine, user_id, idempotency_key, asked)
    if existing is not None:
        return existing, False
    with engine.connect() as conn:
        currency = conn.execute(select(currencies).where(
            currencies.c.code == asked.currency)).first()
    if currency is None:
        raise WithdrawalRefused("unknown_currency", f"unknown currency {asked.currency!r}",
                                "currency", status=404)
    amount = parse_amount(asked.amount, currency.scale, field="amount")
    _check_bounds(currency, amount)
    if currency.withdrawals_paused:
        raise WithdrawalRefused("withdrawals_paused", f"{currency.code} withdrawals are paused "
                                "by the exchange; try again later", status=503)
    if not driver.validate_address(asked.address):
        raise WithdrawalRefused("invalid_address", f"this is not a valid {currency.code} "
                                "address on our network", "address")
    twin = _spend_second_factor(engine, secret_key, user_id, idempotency_key, asked)
    if twin is not None:
        return twin, False
    withdrawal_id = uuid.uuid4()
    fee = currency.withdrawal_fee
    status = "pending_approval" if currency.withdrawal_approval_above is not None \
        and amount > currency.withdrawal_approval_above else "queued"
    try:
        with engine.begin() as conn:
            _lock_user(conn, user_id)     # serialises this user's requests: the daily limit
            _check_address_allowed(conn, user_id, currency.code, asked.address)
            _check_daily_limit(conn, user_id, currency, amount)
            conn.execute(withdrawals.insert().values(
                id=withdrawal_id, user_id=user_id, currency=currency.code,
                address=asked.address, amount=amount, fee=fee, status=status,
                idempotency_key=idempotency_key, request_hash=asked.digest()))
            post(conn, move(f"withdrawal-hold:{withdrawal_id}", "withdrawal_hold",
                            account(conn, user_id, currency.code, AccountKind.AVAILABLE),
                            account(conn, user_id, currency.code, AccountKind.HELD),
                            amount + fee, f"withdrawal:{withdrawal_id}"))
    except IntegrityError:
        # The same key, sent twice at once: the other one won.
        existing = _by_key(engine, user_id, idempotency_key, asked)
        if existing is None:
            raise
        return existing, False
    return get(engine, user_id, withdrawal_id), True


def _spend_second_factor(engine: Engine, secret_key: bytes, user_id: int,
                         idempotency_key: str, asked: Request) -> dict | None:
    """Check the code, and spend it if right, in a transaction of its own: a refusal after
    it (address, limits, funds) cannot give it back to be tried again. Returns the
    withdrawal of a twin request (same key, same body, sent at once) that spent it."""
    try:
        second_factor.verify(engine, secret_key, user_id, asked.totp, action="withdrawal")
    except InvalidSecondFactor:
        twin = _by_key(engine, user_id, idempotency_key, asked)
        if twin is None:
            raise
        return twin
    return None


def _by_key(engine: Engine, user_id: int, key: str, asked: Request) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(viewed().where(
            withdrawals.c.user_id == user_id, withdrawals.c.idempotency_key == key)).first()
    if row is None:
        return None
    if row.request_hash != asked.digest():
        raise WithdrawalRefused("idempotency_key_reused", "this Idempotency-Key was used for "
                                "another withdrawal; use a new key", status=409)
    return describe(row)


def _check_bounds(currency, amount: Decimal) -> None:
    if amount <= 0:
        raise WithdrawalRefused("invalid_amount", "the amount must be above zero", "amount")
    if amount < currency.withdrawal_min:
        raise WithdrawalRefused("below_minimum", f"the smallest {currency.code} withdrawal is "
                                f"{currency.withdrawal_min}", "amount")
    if currency.withdrawal_max is not None and amount > currency.withdrawal_max:
        raise WithdrawalRefused("above_maximum", f"the largest {currency.code} withdrawal is "
                                f"{currency.withdrawal_max}", "amount")


def _check_address_allowed(conn: Connection, user_id: int, code: str, address: str) -> None:
    usable_from = conn.execute(select(withdrawal_addresses.c.usable_from).where(
        withdrawal_addresses.c.user_id == user_id, withdrawal_addresses.c.currency == code,
        withdrawal_addresses.c.address == address)).scalar()
    if usable_from is None:
        raise WithdrawalRefused("address_not_allowed", "add this address to your withdrawal "
                                "addresses first (POST /v1/withdrawal-addresses)", "address",
                                status=403)
    if conn.execute(select(func.now() < usable_from)).scalar():
        raise WithdrawalRefused("address_cooling_off", "this address was added recently; it "
                                f"can be used from {usable_from.isoformat()}", "address",
                                status=403)


def _check_daily_limit(conn: Connection, user_id: int, currency, amount: Decimal) -> None:
    if currency.withdrawal_daily_max is None:
        return
    used = conn.execute(select(func.coalesce(func.sum(withdrawals.c.amount), 0)).where(
        withdrawals.c.user_id == user_id, withdrawals.c.currency == currency.code,
        withdrawals.c.status.in_(COUNTED_AGAINST_DAILY_LIMIT),
        withdrawals.c.created_at > func.now() - text("interval '24 hours'"))).scalar_one()
    if used + amount > currency.withdrawal_daily_max:
        raise WithdrawalRefused("daily_limit_exceeded", f"at most "
                                f"{currency.withdrawal_daily_max} {currency.code} in 24 hours; "
                                f"{currency.withdrawal_daily_max - used} remains", "amount",
                                status=422)


def viewed():
    """Withdrawals with what ``describe`` needs (their currency's scale)."""
    return select(withdrawals, currencies.c.scale).join(
        currencies, currencies.c.code == withdrawals.c.currency)


def describe(row) -> dict:
    return {"id": str(row.id), "currency": row.currency, "address": row.address,
            "amount": format_amount(row.amount, row.scale),
            "fee": format_amount(row.fee, row.scale), "status": row.status,
            "txid": row.txid, "confirmations": row.confirmations,
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


def get(engine: Engine, user_id: int, withdrawal_id: uuid.UUID) -> dict:
    with engine.connect() as conn:
        row = conn.execute(viewed().where(
            withdrawals.c.id == withdrawal_id, withdrawals.c.user_id == user_id)).first()
    if row is None:
        raise WithdrawalNotFound()
    return describe(row)


# Leaving the queue before sending: the user cancels, an operator rejects or approves.

def cancel(engine: Engine, user_id: int | None, withdrawal_id: uuid.UUID,
           outcome: str = "cancelled") -> dict:
    """Return the held funds of a withdrawal not yet sending (user: cancel; operator,
    with ``user_id`` None: reject)."""
    with engine.begin() as conn:
        row = _locked(conn, withdrawal_id, user_id)
        allowed = CANCELLABLE if outcome == "cancelled" else ("pending_approval",)
        if row.status not in allowed:
            raise WithdrawalNotCancellable("withdrawal_not_cancellable",
                                           f"this withdrawal is {row.status}; only one that "
                                           f"is {' or '.join(allowed)} can be {outcome}")
        _release(conn, row, outcome, None)
    return get(engine, row.user_id, withdrawal_id)


def approve(engine: Engine, withdrawal_id: uuid.UUID) -> dict:
    with engine.begin() as conn:
        row = _locked(conn, withdrawal_id, None)
        if row.status != "pending_approval":
            raise WithdrawalNotCancellable("withdrawal_not_pending",
                                           f"this withdrawal is {row.status}, not awaiting "
                                           "approval")
        _set(conn, withdrawal_id, status="queued")
    return get(engine, row.user_id, withdrawal_id)


def _locked(conn: Connection, withdrawal_id: uuid.UUID, user_id: int | None):
    query = select(withdrawals).where(withdrawals.c.id == withdrawal_id).with_for_update()
    if user_id is not None:
        query = query.where(withdrawals.c.user_id == user_id)
    row = conn.execute(query).first()
    if row is None:
        raise WithdrawalNotFound()
    return row


def _set(conn: Connection, withdrawal_id: uuid.UUID, **values) -> None:
    conn.execute(update(withdrawals).where(withdrawals.c.id == withdrawal_id)
                 .values(updated_at=func.now(), **values))


def _release(conn: Connection, row, status: str, error: str | None) -> None:
    post(conn, move(f"withdrawal-release:{row.id}", "withdrawal_release",
                    account(conn, row.user_id, row.currency, AccountKind.HELD),
                    account(conn, row.user_id, row.currency, AccountKind.AVAILABLE),
                    row.amount + row.fee, f"withdrawal:{row.id}"))
    _set(conn, row.id, status=status, error=error, needs_attention=False)


# Sending, exactly once.

def send(engine: Engine, driver: CurrencyDriver, withdrawal_id: uuid.UUID) -> str:
    """One attempt to pay a queued (or interrupted) withdrawal; returns its status after."""
    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": send_lock_key(driver.code)})
        lock.commit()
        try:
            return _send_locked(engine, driver, withdrawal_id)
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:k)"),
                         {"k": send_lock_key(driver.code)})
            lock.commit()


def _send_locked(engine: Engine, driver: CurrencyDriver, withdrawal_id: uuid.UUID) -> str:
    with engine.begin() as conn:
        row = _locked(conn, withdrawal_id, None)
        if row.status not in ("queued", "sending"):
            return row.status
        # Read under the send lock, which a pause takes too: it holds for this attempt.
        paused = conn.execute(select(currencies.c.withdrawals_paused).where(
            currencies.c.code == row.currency)).scalar_one()
        if row.status == "queued":
            if paused:
                return "queued"
            _set(conn, withdrawal_id, status="sending")    # committed before the node is called
    reference = f"withdrawal:{withdrawal_id}"
    try:
        txid = driver.find_sent(reference)
        if txid is None:
            if paused:
                return "sending"  # an interrupted attempt that paid nothing waits, unsent
            txid = driver.send(row.address, row.amount, reference)
    except PaymentDeferred as error:
        # Nothing was signed or sent: back in the queue, cancellable again.
        log.warning("withdrawal %s waits: %s", withdrawal_id, error)
        with engine.begin() as conn:
            _set(conn, withdrawal_id, status="queued", error=str(error), needs_attention=False)
        return "queued"
    except TemporaryNodeError:
        raise                         # unknown whether it left: stays sending, retried later
    except PaymentRefused as error:
        with engine.begin() as conn:
            row = _locked(conn, withdrawal_id, None)
            if row.status == "sending":
                _release(conn, row, "failed", str(error))
        return "failed"
    except NodeError as error:
        log.error("withdrawal %s: the node refused us and the payment may be out or still "
                  "go; it stays sending, held, until an operator looks: %s", withdrawal_id, error)
        with engine.begin() as conn:
            row = _locked(conn, withdrawal_id, None)
            if row.status == "sending":
                _set(conn, withdrawal_id, needs_attention=True, error=str(error))
        return row.status
    with engine.begin() as conn:
        row = _locked(conn, withdrawal_id, None)
        if row.status != "sending":
            return row.status
        held = account(conn, row.user_id, row.currency, AccountKind.HELD)
        entries = [Entry(held, -(row.amount + row.fee)),
                   Entry(account(conn, None, row.currency, AccountKind.WITHDRAWALS_IN_TRANSIT),
                         row.amount)]
        if row.fee > 0:
            entries.append(Entry(account(conn, None, row.currency, AccountKind.FEES), row.fee))
        post(conn, Transfer(f"withdrawal-sent:{withdrawal_id}", "withdrawal_sent",
                            tuple(entries), reference))
        _set(conn, withdrawal_id, status="sent", txid=txid, error=None, needs_attention=False)
    return "sent"


def follow(engine: Engine, driver: CurrencyDriver) -> dict[str, int]:
    """Confirmations of sent withdrawals: confirm at the threshold; a payment the chain
    lost goes to ``attention`` and stays out of users' balances."""
    needed = max(driver.confirmations, 1)
    with engine.connect() as conn:
        sent = conn.execute(select(withdrawals.c.id, withdrawals.c.txid).where(
            withdrawals.c.currency == driver.code, withdrawals.c.status == "sent")).all()
    outcome = {"confirmed": 0, "attention": 0}
    for withdrawal_id, txid in sent:
        confirmations = driver.transaction_confirmations(txid)
        with engine.begin() as conn:
            row = _locked(conn, withdrawal_id, None)
            if row.status != "sent":
                continue
            if confirmations < 0:
                log.error("withdrawal %s: the chain no longer has %s; not re-credited, "
                          "an operator must look", withdrawal_id, txid)
                _set(conn, withdrawal_id, status="attention", error=f"{txid} left the chain")
                outcome["attention"] += 1
            elif confirmations >= needed:
                post(conn, move(f"withdrawal-confirmed:{withdrawal_id}", "withdrawal_confirmed",
                                account(conn, None, row.currency,
                                        AccountKind.WITHDRAWALS_IN_TRANSIT),
                                account(conn, None, row.currency, AccountKind.WORLD),
                                row.amount, f"withdrawal:{withdrawal_id}"))
                _set(conn, withdrawal_id, status="confirmed", confirmations=confirmations,
                     network_fee=driver.sent_fee(txid))
                outcome["confirmed"] += 1
            elif confirmations != row.confirmations:
                _set(conn, withdrawal_id, confirmations=confirmations)
    return outcome


def unfinished(engine: Engine, older_than_seconds: float) -> list[tuple[uuid.UUID, str]]:
    """Queued or interrupted withdrawals whose message may have been lost."""
    with engine.connect() as conn:
        return conn.execute(select(withdrawals.c.id, withdrawals.c.currency).where(
            withdrawals.c.status.in_(("queued", "sending")),
            withdrawals.c.updated_at < func.now() - text(f"interval '{older_than_seconds} "
                                                         "seconds'"))
            .order_by(withdrawals.c.created_at)).all()
