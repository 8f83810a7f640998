"""One bound on guessing the second factor, for every path that takes a code.

Log-in, confirming and removing the factor, key creation, withdrawals and withdrawal
addresses all check their code here, each in a transaction of its own under the
user's row lock, committed before the request goes on:

- a right code is spent (its step, or the recovery code, marked used) even when the
  request is refused afterwards: used again, it is refused and counted like a guess;
- a wrong one is recorded in ``second_factor_failures``, where the request's own
  rollback cannot take it back, and every process reads the same count;
- concurrent guesses wait for each other on the row lock, so each bound is exact.

The bounds (``FAILURE_BOUNDS``): 5 wrong codes in 15 minutes, and 20 in 24 hours.
Past either, no code is checked at all, not even a right one, until the oldest
failure counted leaves its window (429 ``second_factor_locked`` with Retry-After).
A guess is right with odds of 3 in a million (the current code and one step either
side), so 20 a day give an attacker who already holds the password or a session
about 2 % in a year, while a user who mistypes gets five tries at once. Only callers
past the password, or holding a session or a withdraw key, can spend a user's
attempts (and so lock the user out for a while: the price of one count for every
path). A missing code or one that cannot be right (not six digits nor a recovery
code) is not a guess and is not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, text

from db.schema import second_factor_failures as failures, users
from users import totp
from users.errors import (
    AccessError, InvalidInput, InvalidSecondFactor, SecondFactorLocked, SecondFactorRequired,
)


@dataclass(frozen=True)
class Bound:
    failures_max: int
    window: timedelta


FAILURE_BOUNDS = (Bound(5, timedelta(minutes=15)), Bound(20, timedelta(hours=24)))
WINDOW_LONGEST = max(bound.window for bound in FAILURE_BOUNDS)
FAILURES_READ_MAX = max(bound.failures_max for bound in FAILURE_BOUNDS)

_RECENT = text("""
SELECT clock_timestamp() AS now, ARRAY(
    SELECT failed_at FROM second_factor_failures
    WHERE user_id = :user_id AND failed_at > clock_timestamp() - :window
    ORDER BY failed_at DESC LIMIT :limit) AS failed""")


def verify(engine: Engine, secret_key: bytes, user_id: int, code: object, *, action: str,
           field: str = "totp") -> None:
    """Pass if the factor is off; otherwise ``code`` must be right, and is spent
    (committed) before this returns."""
    with engine.begin() as conn:
        row = _locked_user(conn, user_id)
        if row.totp_enabled_at is None:
            return
        failure = _attempt(conn, secret_key, user_id, row.totp_secret_encrypted, code,
                           action, field)
    if failure is not None:
        raise failure


def confirm(engine: Engine, secret_key: bytes, user_id: int, code: object) -> list[str]:
    """Turn an enrolled factor on with a first right code; the recovery codes, shown once."""
    with engine.begin() as conn:
        row = _locked_user(conn, user_id)
        if row.totp_secret_encrypted is None:
            raise InvalidInput("enrol first: POST /v1/me/totp", field=None)
        if row.totp_enabled_at is not None:
            raise InvalidInput("the second factor is already enabled", field=None)
        failure = _attempt(conn, secret_key, user_id, row.totp_secret_encrypted, code,
                           "totp_confirm", "code")
        if failure is None:
            return totp.enable(conn, user_id)
    raise failure


def remove(engine: Engine, secret_key: bytes, user_id: int, code: object) -> None:
    with engine.begin() as conn:
        row = _locked_user(conn, user_id)
        if row.totp_enabled_at is None:
            raise InvalidInput("the second factor is not enabled", field=None)
        failure = _attempt(conn, secret_key, user_id, row.totp_secret_encrypted, code,
                           "totp_remove", "totp")
        if failure is None:
            totp.disable(conn, user_id)
            return
    raise failure


def _locked_user(conn: Connection, user_id: int):  # type: ignore[no-untyped-def]
    return conn.execute(select(users.c.totp_secret_encrypted, users.c.totp_enabled_at)
                        .where(users.c.id == user_id).with_for_update(key_share=True)).one()


def _attempt(conn: Connection, secret_key: bytes, user_id: int, encrypted: bytes,
             code: object, action: str, field: str) -> AccessError | None:
    """Check ``code`` in ``conn``; the error to raise once the failure is committed."""
    if code is None or code == "":
        raise SecondFactorRequired("this account has a second factor: send its current code "
                                   f"in {field}", field=field)
    now, failed = conn.execute(_RECENT, {"user_id": user_id, "window": WINDOW_LONGEST,
                                         "limit": FAILURES_READ_MAX}).one()
    until = locked_until(now, failed)
    if until is not None:
        raise SecondFactorLocked(
            f"too many wrong second-factor codes: none is checked for {_seconds(until, now)} "
            "s (Retry-After); a code stays valid for 30 s, take a fresh one then",
            retry_after_seconds=_seconds(until, now), field=field)
    if not isinstance(code, str) or not totp.well_formed(code):
        raise InvalidSecondFactor("a second-factor code is 6 digits, or a recovery code "
                                  "such as abcd-efgh-ijkl", field=field)
    try:
        totp.spend(conn, secret_key, user_id, encrypted, code, field)
        return None
    except InvalidSecondFactor as error:
        conn.execute(insert(failures).values(user_id=user_id, action=action, failed_at=now))
        conn.execute(delete(failures).where(failures.c.user_id == user_id,
                                            failures.c.failed_at < now - WINDOW_LONGEST))
        until = locked_until(now, [now, *failed])
        if until is None:
            return error
        return InvalidSecondFactor(f"{error.message}; that was one wrong code too many: "
                                   f"none is checked for {_seconds(until, now)} s",
                                   field=field)


def locked_until(now: datetime, failed: list[datetime]) -> datetime | None:
    """When the lock that ``failed`` (newest first) puts on the factor ends; None if none."""
    until = None
    for bound in FAILURE_BOUNDS:
        counted = [at for at in failed if at > now - bound.window]
        if len(counted) >= bound.failures_max:
            ends = counted[bound.failures_max - 1] + bound.window
            until = ends if until is None else max(until, ends)
    return until


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))

