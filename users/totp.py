"""The TOTP second factor (RFC 6238, pyotp) with single-use recovery codes.

A code's time step is accepted once (no replay within its window); a recovery
code works once, in place of a TOTP code. These are the steps on one connection;
``users.second_factor`` runs them, with the bound on wrong codes, in transactions of
their own.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

import pyotp
from sqlalchemy import Connection, func, select, update

from db.schema import totp_recovery_codes, users
from users import crypto
from users.errors import InvalidInput, InvalidSecondFactor

ISSUER = "Exchange"
STEP_SECONDS = 30
STEPS_OF_DRIFT_MAX = 1          # one step either side of now, for clocks that drift
RECOVERY_CODES = 10
_PURPOSE = "totp"
_CODE = re.compile(r"[0-9]{6}")
_RECOVERY = re.compile(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}")


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def is_enabled(conn: Connection, user_id: int) -> bool:
    return conn.execute(select(users.c.totp_enabled_at).where(users.c.id == user_id)).scalar() \
        is not None


def enrol(conn: Connection, secret_key: bytes, user_id: int, email: str) -> tuple[str, str]:
    """A new secret and its ``otpauth://`` URI; the factor is off until ``confirm``."""
    if is_enabled(conn, user_id):
        raise InvalidInput("the second factor is already enabled; remove it first", field=None)
    secret = pyotp.random_base32()
    conn.execute(update(users).where(users.c.id == user_id).values(
        totp_secret_encrypted=crypto.encrypt(secret_key, _PURPOSE, secret.encode(), str(user_id)),
        totp_last_step=None))
    return secret, pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def well_formed(code: str) -> bool:
    """Whether ``code`` could be right at all: six digits, or a recovery code."""
    return _CODE.fullmatch(code) is not None or _RECOVERY.fullmatch(code) is not None


def spend(conn: Connection, secret_key: bytes, user_id: int, encrypted: bytes, code: str,
          field: str) -> None:
    """Accept a well-formed code once, in ``conn``: a TOTP code's step or a recovery code
    is marked used; InvalidSecondFactor (and nothing written) if it is wrong or used."""
    if _RECOVERY.fullmatch(code):
        used = conn.execute(update(totp_recovery_codes).where(
            totp_recovery_codes.c.user_id == user_id,
            totp_recovery_codes.c.code_hash == _hash(code),
            totp_recovery_codes.c.used_at.is_(None)).values(used_at=func.now())).rowcount
        if used != 1:
            raise InvalidSecondFactor("this recovery code is wrong or was used", field=field)
        return
    secret = crypto.decrypt(secret_key, _PURPOSE, encrypted, str(user_id)).decode()
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now_step = int(time.time()) // STEP_SECONDS
    for step in range(now_step - STEPS_OF_DRIFT_MAX, now_step + STEPS_OF_DRIFT_MAX + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            # Atomic: two requests with the same code cannot both pass.
            fresh = conn.execute(update(users).where(
                users.c.id == user_id,
                (users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step),
            ).values(totp_last_step=step)).rowcount
            if fresh == 1:
                return
            raise InvalidSecondFactor("this code was used already; wait for the next one",
                                      field=field)
    raise InvalidSecondFactor("the second-factor code is wrong or expired", field=field)


def enable(conn: Connection, user_id: int) -> list[str]:
    """Turn the enrolled factor on; returns the recovery codes, shown once."""
    conn.execute(update(users).where(users.c.id == user_id).values(totp_enabled_at=func.now()))
    codes = ["-".join(_random_group() for _ in range(3)) for _ in range(RECOVERY_CODES)]
    conn.execute(totp_recovery_codes.insert(),
                 [{"user_id": user_id, "code_hash": _hash(c)} for c in codes])
    return codes


def disable(conn: Connection, user_id: int) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(
        totp_secret_encrypted=None, totp_enabled_at=None, totp_last_step=None))
    conn.execute(totp_recovery_codes.delete().where(totp_recovery_codes.c.user_id == user_id))


def _random_group() -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(4))
