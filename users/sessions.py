"""Website sessions: short-lived tokens signed with ``SECRET_KEY``, revocable on logout.

The token carries the session's id and is signed (itsdangerous), so a forged one
is refused without a database read; the row says whether it was revoked.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, select, update

from db.schema import sessions, users
from users.errors import SessionInvalid

SESSION_LIFETIME = timedelta(hours=8)


def _serializer(secret_key: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="session")


def create(conn: Connection, secret_key: bytes, user_id: int) -> tuple[str, datetime]:
    session_id = uuid.uuid4()
    expires_at = datetime.now(timezone.utc) + SESSION_LIFETIME
    conn.execute(sessions.insert().values(id=session_id, user_id=user_id, expires_at=expires_at))
    return _serializer(secret_key).dumps(session_id.hex), expires_at


def session_id_of(secret_key: bytes, token: str) -> uuid.UUID:
    try:
        return uuid.UUID(hex=_serializer(secret_key).loads(token))
    except (BadSignature, ValueError, TypeError):
        raise SessionInvalid("the session token is not valid; log in again") from None


def user_of(conn: Connection, session_id: uuid.UUID) -> int:
    return holder_of(conn, session_id)[0]


def holder_of(conn: Connection, session_id: uuid.UUID) -> tuple[int, datetime]:
    """The user of a session that is neither revoked nor expired, whose user is not
    frozen, and when the session expires."""
    row = conn.execute(
        select(sessions.c.user_id, sessions.c.expires_at)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None),
               sessions.c.expires_at > datetime.now(timezone.utc), users.c.frozen_at.is_(None))
    ).first()
    if row is None:
        raise SessionInvalid("the session has expired or was ended; log in again")
    return row.user_id, row.expires_at


def revoke(conn: Connection, session_id: uuid.UUID) -> None:
    conn.execute(update(sessions)
                 .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                 .values(revoked_at=datetime.now(timezone.utc)))
