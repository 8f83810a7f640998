"""Posting transfers: one business event, two or more entries, zero-sum per currency.

Two ways in, one set of rules: ``post_many`` (and ``post``) in the caller's transaction,
reading the result back; ``post_new`` inside a round trip the caller sends anyway (order
placement, a matcher batch), reading nothing back. A key names one transfer: a key
posted before posts nothing again. ``post_many`` says so (``created=False``) for the same
content and raises IdempotencyConflict for other content; ``post_new``'s keys are new by
construction (a new order's id, a claimed request's sequence), so one seen before fails
its round trip with IdempotencyConflict.

Python checks every rule first so that a caller gets a precise error; the
database checks them again (see migration 0001) so that no caller can skip them.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from db import round_trips
from db.schema import transfers
from ledger.accounts import Account
from money import MONEY, check_scale
from ledger.errors import (
    IdempotencyConflict, InsufficientFunds, LedgerError, LedgerIntegrityError, UnbalancedTransfer,
)

ENTRIES_PER_TRANSFER_MAX = 32
ENTRIES_PER_POST_MAX = 100_000
KEY_LENGTH_MAX = 200

# One statement whatever the batch: the transfers, then the entries of those that are
# new (a key posted before inserts nothing). Arrays keep it one fixed text: one parse,
# one round trip, no limit on parameters. Entries go in account order (as the entry
# trigger locks their accounts).
_INSERT_TEMPLATE = """
    WITH new_transfers AS (
        INSERT INTO transfers (idempotency_key, kind, reference, content_hash)
        SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:kinds AS text[]),
                             CAST(:references AS text[]), CAST(:hashes AS bytea[]))
        {on_conflict}
        RETURNING idempotency_key, id),
    new_entries AS (
        INSERT INTO entries (transfer_id, account_id, amount)
        SELECT t.id, e.account_id, e.amount
          FROM unnest(CAST(:entry_keys AS text[]), CAST(:accounts AS bigint[]),
                      CAST(:amounts AS numeric[])) WITH ORDINALITY AS e(key, account_id, amount, n)
          JOIN new_transfers t ON t.idempotency_key = e.key
         ORDER BY e.n)
    SELECT idempotency_key, id FROM new_transfers"""
_INSERT = text(_INSERT_TEMPLATE.format(on_conflict="ON CONFLICT (idempotency_key) DO NOTHING"))
# Transfers that must be new: a key posted before fails the statement (and its
# transaction) instead of being skipped, so that a caller who reads no result back
# cannot lose a transfer silently.
_POST_NEW = round_trips.Prepared("ledger_insert_new",
                                  text(_INSERT_TEMPLATE.format(on_conflict="")))
REFERENCE_LENGTH_MAX = 200
_KIND = re.compile(r"[a-z_]{1,40}")
_ZERO = Decimal(0)


@dataclass(frozen=True)
class Entry:
    account: Account
    amount: Decimal              # positive credits the account, negative debits it


@dataclass(frozen=True)
class Transfer:
    key: str                     # idempotency key: a retry with the same key is a no-op
    kind: str                    # e.g. deposit, order_hold, trade, withdrawal
    entries: tuple[Entry, ...]
    reference: str = ""          # what the event refers to, e.g. "order:42"


@dataclass(frozen=True)
class Posted:
    id: int
    key: str
    created: bool                # False: an identical transfer was posted before


def move(key: str, kind: str, source: Account, destination: Account, amount: Decimal,
         reference: str = "") -> Transfer:
    """The common two-entry transfer: ``amount`` from ``source`` to ``destination``."""
    return Transfer(key, kind, (Entry(source, amount.copy_negate()), Entry(destination, amount)),
                    reference)


def post(conn: Connection, transfer: Transfer) -> Posted:
    return post_many(conn, [transfer])[0]


def post_many(conn: Connection, batch: Sequence[Transfer]) -> list[Posted]:
    """Post transfers in the caller's transaction, in one statement whatever their number.

    A transfer whose key was posted before is not posted again: its result says
    ``created=False`` (same content) or IdempotencyConflict is raised (other content).
    """
    if not batch:
        return []
    parameters = insert_parameters(batch)
    try:
        created: dict[str, int] = {key: transfer_id for key, transfer_id
                                   in conn.execute(_INSERT, parameters)}
    except DBAPIError as error:
        raise translated(error) from error
    return [_result(conn, t, content_hash, created)
            for t, content_hash in zip(batch, parameters["hashes"])]


def post_new(conn: Connection, batch: Sequence[Transfer], parameters: dict[str, Any], *,
             before: Sequence[round_trips.Prepared | str] = (),
             after: Sequence[round_trips.Prepared | str] = ()) -> None:
    """Post ``batch``, whose keys are new, in one round trip with the caller's statements
    ``before`` and ``after`` it (``parameters`` are theirs; ``after`` may end in "COMMIT").
    An empty batch sends the caller's statements alone."""
    sql = _joined(tuple(before), bool(batch), tuple(after))
    if batch:
        parameters = round_trips.merged(parameters, insert_parameters(batch))
    try:
        round_trips.execute(conn, sql, parameters)
    except DBAPIError as error:
        raise translated(error) from error


@functools.cache
def _joined(before: tuple[round_trips.Prepared | str, ...], posting: bool,
            after: tuple[round_trips.Prepared | str, ...]) -> str:
    return round_trips.joined(*before, *((_POST_NEW,) if posting else ()), *after)


def insert_parameters(batch: Sequence[Transfer]) -> dict[str, list[Any]]:
    """The checked parameters of post_many's and post_new's statements for ``batch``."""
    hashes = [_validated_hash(transfer) for transfer in batch]
    if len({transfer.key for transfer in batch}) != len(batch):
        raise IdempotencyConflict("one batch holds the same idempotency key twice")
    if sum(len(transfer.entries) for transfer in batch) > ENTRIES_PER_POST_MAX:
        raise ValueError(f"more than {ENTRIES_PER_POST_MAX} entries in one post")
    entries = sorted((e.account.id, t.key, e.amount) for t in batch for e in t.entries)
    return {"keys": [t.key for t in batch], "kinds": [t.kind for t in batch],
            "references": [t.reference for t in batch], "hashes": hashes,
            "entry_keys": [key for _, key, _ in entries],
            "accounts": [account_id for account_id, _, _ in entries],
            "amounts": [amount for _, _, amount in entries]}


def _result(conn: Connection, transfer: Transfer, content_hash: bytes,
            created: dict[str, int]) -> Posted:
    if transfer.key in created:
        return Posted(created[transfer.key], transfer.key, True)
    earlier = conn.execute(select(transfers.c.id, transfers.c.content_hash)
                           .where(transfers.c.idempotency_key == transfer.key)).one()
    if bytes(earlier.content_hash) != content_hash:
        raise IdempotencyConflict(
            f"idempotency key {transfer.key!r} was used before for a different transfer")
    return Posted(earlier.id, transfer.key, False)


def _validated_hash(transfer: Transfer) -> bytes:
    if not 1 <= len(transfer.key) <= KEY_LENGTH_MAX:
        raise ValueError(f"an idempotency key has 1 to {KEY_LENGTH_MAX} characters")
    if not _KIND.fullmatch(transfer.kind):
        raise ValueError(f"transfer kind {transfer.kind!r} must match {_KIND.pattern}")
    if len(transfer.reference) > REFERENCE_LENGTH_MAX:
        raise ValueError(f"a reference has at most {REFERENCE_LENGTH_MAX} characters")
    if not 2 <= len(transfer.entries) <= ENTRIES_PER_TRANSFER_MAX:
        raise UnbalancedTransfer(f"a transfer has 2 to {ENTRIES_PER_TRANSFER_MAX} entries, "
                                 f"not {len(transfer.entries)}")
    totals: dict[str, Decimal] = {}
    lines = []
    for entry in transfer.entries:
        amount, entry_account = entry.amount, entry.account
        check_scale(amount, entry_account.scale)
        if amount == 0:
            raise UnbalancedTransfer("an entry of zero moves nothing; leave it out")
        currency = entry_account.currency
        totals[currency] = MONEY.add(totals.get(currency, _ZERO), amount)
        lines.append(f"{entry_account.id}:{MONEY.normalize(amount):f}")
    lines.sort()
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedTransfer(f"transfer {transfer.key!r} does not sum to zero: {unbalanced}")
    canonical = "\n".join([transfer.kind, transfer.reference, *lines])
    return hashlib.sha256(canonical.encode()).digest()


def translated(error: DBAPIError) -> LedgerError | DBAPIError:
    code = getattr(error.orig, "pgcode", None)
    diag = getattr(error.orig, "diag", None)
    message = getattr(diag, "message_primary", None) or str(error.orig)
    if code == "23514" and getattr(diag, "constraint_name", None) == "accounts_balance_nonnegative":
        return InsufficientFunds(
            "insufficient funds: the transfer would take an account below zero")
    if code == "23505" and getattr(diag, "constraint_name", None) == \
            "transfers_idempotency_key_key":
        return IdempotencyConflict(f"a transfer that must be new was posted before: {message}")
    if code == "EX002":
        return UnbalancedTransfer(message)
    if code in ("EX001", "EX003", "EX004", "EX005"):
        return LedgerIntegrityError(message)
    return error
