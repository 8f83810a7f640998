"""Pausing a currency's withdrawals: why, since when, and until an operator resumes them.

Reconciliation pauses the currencies a difference concerns (all when it names none),
the wallet check a currency whose node wallet holds less than users are owed, and an
operator any currency. While paused, a request is refused (``withdrawals_paused``), a
queued withdrawal stays queued and an interrupted one is looked for but never sent
again (``custody.withdrawals.send``).

A pause takes each currency's send lock, the one every payment attempt holds from its
first read to its last write: once the pause commits, no payment of that currency is
in flight and none starts. A currency already paused keeps its first reason; each
later one is in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from sqlalchemy import Connection, Engine, select, text, update

from custody.withdrawals import send_lock_key
from db.schema import currencies, withdrawals

REASON_LENGTH_MAX = 1000              # as the column's CHECK allows
RESUMED_WITHDRAWALS_MAX = 10_000      # queued again at once on resume; the scheduler does the rest


@dataclass(frozen=True)
class Resumed:
    currency: str
    reason: str | None                # why it was paused (None: it was not)
    since: datetime | None
    waiting: list[tuple[str, str]]    # (withdrawal id, currency) to send now


def every_currency(conn: Connection) -> list[str]:
    return list(conn.execute(select(currencies.c.code).order_by(currencies.c.code)).scalars())


def pause(conn: Connection, reasons: Mapping[str, str]) -> list[str]:
    """Pause each currency of ``reasons`` for its reason, in the caller's transaction;
    returns those that were not paused already."""
    codes = sorted(reasons)
    for code in codes:      # in one order: two pauses never wait for each other
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": send_lock_key(code)})
    paused = conn.execute(text("""
        UPDATE currencies c
           SET withdrawals_paused = true, withdrawals_paused_reason = r.reason,
               withdrawals_paused_at = now()
          FROM unnest(CAST(:codes AS text[]), CAST(:reasons AS text[])) AS r (code, reason)
         WHERE c.code = r.code AND NOT c.withdrawals_paused
        RETURNING c.code"""), {"codes": codes, "reasons": [
        reasons[code][:REASON_LENGTH_MAX] for code in codes]}).scalars()
    return sorted(paused)


def resume(engine: Engine, code: str) -> Resumed | None:
    """Lift the pause of ``code`` (None: no such currency). The withdrawals it held back
    are returned, to be sent again at once."""
    with engine.begin() as conn:
        before = conn.execute(select(
            currencies.c.withdrawals_paused, currencies.c.withdrawals_paused_reason,
            currencies.c.withdrawals_paused_at).where(currencies.c.code == code)
            .with_for_update()).first()
        if before is None:
            return None
        conn.execute(update(currencies).where(currencies.c.code == code).values(
            withdrawals_paused=False, withdrawals_paused_reason=None,
            withdrawals_paused_at=None))
        waiting = conn.execute(select(withdrawals.c.id, withdrawals.c.currency).where(
            withdrawals.c.currency == code, withdrawals.c.status.in_(("queued", "sending")))
            .order_by(withdrawals.c.number).limit(RESUMED_WITHDRAWALS_MAX)).all()
    reason = (before.withdrawals_paused_reason or "no reason recorded") \
        if before.withdrawals_paused else None
    return Resumed(code, reason, before.withdrawals_paused_at,
                   [(str(withdrawal_id), currency) for withdrawal_id, currency in waiting])
