"""The access behind a WebSocket's private channels, read again while the socket lives.

A socket authenticates once, in band; what it was given (a ``Grant``: a website session
or an API key) can end later: a log-out, the session's expiry, the key's revocation, the
user frozen. Every ACCESS_CHECK_SECONDS each ``web`` process reads the grants of all its
sockets again, in one query for the sessions and one for the keys whatever their number,
and ends each socket whose grant no longer holds with the error REST would answer. A
revocation thus ends private channels within ACCESS_CHECK_SECONDS and a read, inside the
2 s in which REST refuses a revoked key in every process.

Kept apart from the hub so that every stream served on it checks its grants the same way.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Collection, Iterable, Protocol

import gevent
from sqlalchemy import Connection, Engine, Select, select

from api.auth import Principal
from api.errors import ApiError
from db.schema import api_keys, sessions, users

ACCESS_CHECK_SECONDS = 1.0
GRANTS_PER_QUERY_MAX = 1000   # ids in one query's IN list; more are read in several
log = logging.getLogger("api.ws")


@dataclass(frozen=True)
class Grant:
    """What opened a socket's private channels: a website session or an API key."""

    user_id: int
    session_id: uuid.UUID | None = None
    api_key_id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Grant:
        if principal.session_id is None and principal.api_key_id is None:
            raise ValueError("a grant is a session or an API key: this one could never be "
                             "checked again")
        return cls(principal.user_id, principal.session_id,  # type: ignore[arg-type]
                   principal.api_key_id)


class Holder(Protocol):
    """A socket as the watch sees it: its grant (None before auth) and how to end it."""

    grant: Grant | None

    def end(self, code: str, message: str) -> None: ...


def ended(conn: Connection, grants: Collection[Grant], now: datetime) -> dict[Grant, ApiError]:
    """The grants that no longer hold, each with the error that ends its socket."""
    by_session = {g.session_id: g for g in grants if g.session_id is not None}
    by_key = {g.api_key_id: g for g in grants if g.api_key_id is not None}
    return {
        **_refused(conn, by_session, select(sessions.c.id, sessions.c.revoked_at,
                                            sessions.c.expires_at, users.c.frozen_at)
                   .join(users, users.c.id == sessions.c.user_id), sessions.c.id,
                   lambda row: _session_error(row, now)),
        **_refused(conn, by_key, select(api_keys.c.id, api_keys.c.revoked_at, api_keys.c.scopes,
                                        users.c.frozen_at)
                   .join(users, users.c.id == api_keys.c.user_id), api_keys.c.id, _key_error)}


def _refused(conn: Connection, by_id: dict[Any, Grant], query: Select, id_column: Any,
             error_of: Callable[[Any], ApiError | None]) -> dict[Grant, ApiError]:
    """The grants of ``by_id`` whose row (read ``GRANTS_PER_QUERY_MAX`` ids a query) no
    longer holds, with the error ``error_of`` gives it."""
    found: dict[Grant, ApiError] = {}
    for chunk in _chunks(list(by_id)):
        rows = {row.id: row for row in conn.execute(query.where(id_column.in_(chunk)))}
        for grant_id in chunk:
            error = error_of(rows.get(grant_id))
            if error is not None:
                found[by_id[grant_id]] = error
    return found


def _session_error(row: Any, now: datetime) -> ApiError | None:
    if row is None:
        return ApiError(401, "invalid_session", "the session is not known; log in again")
    if row.revoked_at is not None:
        return ApiError(401, "session_revoked", "the session was ended (logged out); log in "
                        "again and authenticate a new socket")
    if row.expires_at <= now:
        return ApiError(401, "session_expired", "the session has expired; log in again and "
                        "authenticate a new socket")
    if row.frozen_at is not None:
        return ApiError(403, "account_frozen", "this account is frozen; contact support")
    return None


def _key_error(row: Any) -> ApiError | None:
    if row is None:
        return ApiError(401, "invalid_api_key", "no API key has this id")
    if row.revoked_at is not None:
        return ApiError(401, "api_key_revoked", "this API key was revoked")
    if row.frozen_at is not None:
        return ApiError(403, "account_frozen", "this account is frozen; contact support")
    if "read" not in row.scopes:
        return ApiError(403, "insufficient_scope", "this API key lacks the read scope")
    return None


def _chunks(items: list, size: int = GRANTS_PER_QUERY_MAX) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def check_once(engine: Engine, holders: Iterable[Holder]) -> int:
    """End every holder whose grant no longer holds; how many were ended."""
    held = [(h, h.grant) for h in holders if h.grant is not None]
    if not held:
        return 0
    with engine.connect() as conn:
        refused = ended(conn, {grant for _, grant in held}, datetime.now(timezone.utc))
    count = 0
    for holder, grant in held:
        error = refused.get(grant)
        if error is not None and holder.grant == grant:  # not authenticated anew meanwhile
            holder.end(error.code, error.message)
            count += 1
    return count


def keep_checking(engine: Engine, holders: Callable[[], Iterable[Holder]],
                  seconds: float = ACCESS_CHECK_SECONDS) -> None:
    """Run ``check_once`` every ``seconds`` over what ``holders()`` returns, for ever."""
    while True:
        gevent.sleep(seconds)
        try:
            check_once(engine, list(holders()))
        except Exception:  # retried next time: a revocation is a database write, so
            # none can be made while the database cannot be read, and an expiry is caught
            # at the first read that succeeds
            log.exception("re-validating the sockets' access failed")
