"""Sign-up and password login."""

from __future__ import annotations

import re

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert

from db.schema import users
from users.errors import AccountFrozen, EmailTaken, InvalidCredentials, InvalidInput
from users.passwords import (
    PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN, hash_password, needs_rehash, verify_password,
)

EMAIL_LENGTH_MAX = 254
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+")
# Verifying against this hash when the email is unknown keeps the timing the same.
_DUMMY_HASH = hash_password("not-a-real-password")


def normalized_email(email: object) -> str:
    if not isinstance(email, str) or len(email) > EMAIL_LENGTH_MAX or not _EMAIL.fullmatch(email):
        raise InvalidInput("email must be an address such as name@example.com", field="email")
    return email.lower()


def check_new_password(password: object) -> str:
    if not isinstance(password, str) or \
            not PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX:
        raise InvalidInput(f"password must have {PASSWORD_LENGTH_MIN} to {PASSWORD_LENGTH_MAX} "
                           "characters", field="password")
    return password


def sign_up(conn: Connection, email: object, password: object) -> dict:
    address, secret = normalized_email(email), check_new_password(password)
    row = conn.execute(insert(users).values(email=address, password_hash=hash_password(secret))
                       .on_conflict_do_nothing(index_elements=["email"])
                       .returning(users.c.id, users.c.email, users.c.created_at)).first()
    if row is None:
        raise EmailTaken("an account with this email exists; log in instead", field="email")
    return row._asdict()


def check_password(conn: Connection, email: object, password: object) -> int:
    """The user id for a correct email and password; InvalidCredentials otherwise."""
    if not isinstance(email, str) or not isinstance(password, str) \
            or len(password) > PASSWORD_LENGTH_MAX:
        raise InvalidCredentials("wrong email or password")
    row = conn.execute(select(users.c.id, users.c.password_hash, users.c.frozen_at)
                       .where(users.c.email == email.lower())).first()
    if row is None:
        verify_password(_DUMMY_HASH, password)
        raise InvalidCredentials("wrong email or password")
    if not verify_password(row.password_hash, password):
        raise InvalidCredentials("wrong email or password")
    if row.frozen_at is not None:
        raise AccountFrozen("this account is frozen; contact support")
    if needs_rehash(row.password_hash):
        conn.execute(update(users).where(users.c.id == row.id)
                     .values(password_hash=hash_password(password)))
    return row.id
