"""Who is calling: a website session (Bearer token) or a signed API key.

Signature: hex(HMAC-SHA256(secret, timestamp + METHOD + path_with_query + body)),
timestamp in unix milliseconds within the receive window; each signature is
accepted once (kept in Redis for twice the window), so a captured request
cannot be replayed even inside the window.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import bottle
import redis
from sqlalchemy import Engine

from api.client_address import client_address
from api.credential_cache import CredentialCache
from api.errors import ApiError
from config import Settings
from users import api_keys, sessions
from users.errors import SessionInvalid

ALL_SCOPES = frozenset(api_keys.SCOPES)
SIGNATURE_HEX_LENGTH = 64


@dataclass(frozen=True)
class Principal:
    user_id: int
    scopes: frozenset[str]
    session_id: object = None          # a website session's id (uuid), else None
    api_key_id: str | None = None
    # A signed request's one-time key and for how long it is kept: claimed by the caller
    # of verify_signature(claim=False), in the same Redis round trip as its rate limits.
    signature_claim: tuple[str, int] | None = None

    @property
    def identity(self) -> str:
        return self.api_key_id or f"user:{self.user_id}"


class Authenticator:
    def __init__(self, settings: Settings, engine: Engine, redis_client: redis.Redis) -> None:
        self.settings, self.engine, self.redis = settings, engine, redis_client
        self._keys: CredentialCache[tuple | None] = CredentialCache()  # by key id
        # By token: (user id, session id, expiry), or the refusal's message (a session
        # never comes back).
        self._sessions: CredentialCache[tuple | str] = CredentialCache()
        # Lookups need no transaction: no BEGIN, and nothing to roll back.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    def forget_key(self, key_id: str) -> None:
        self._keys.forget(key_id)

    def forget_session(self, token: str) -> None:
        self._sessions.forget(token)

    def in_memory(self, request: bottle.BaseRequest) -> bool:
        """Whether authenticating this request needs no database lookup (a session or a
        key that this process read less than CREDENTIAL_CACHE_SECONDS ago)."""
        header = request.headers.get("Authorization")
        if header:
            return header.startswith("Bearer ") and \
                self._sessions.holds(header[len("Bearer "):])
        key_id = request.headers.get("X-API-Key")
        return key_id is not None and self.key_in_memory(key_id)

    def key_in_memory(self, key_id: str) -> bool:
        return self._keys.holds(key_id)

    def _key(self, key_id: str) -> tuple | None:
        kept, found = self._keys.get(key_id)
        if kept:
            return found
        with self._reader.connect() as conn:
            found = api_keys.for_signature(conn, self.settings.secret_key, key_id)
        self._keys.put(key_id, found)
        return found

    def principal(self, request: bottle.BaseRequest, body: bytes) -> Principal | None:
        """Who signed or holds a session; a signature is left for the caller to claim."""
        header = request.headers.get("Authorization", "")
        if header:
            if not header.startswith("Bearer "):
                raise ApiError(401, "invalid_session", "send Authorization: Bearer <token>")
            return self._session(header[len("Bearer "):])
        if request.headers.get("X-API-Key") is not None:
            return self._signed(request, body)
        return None

    def _session(self, token: str) -> Principal:
        kept, found = self._sessions.get(token)
        if not kept:
            found = self._look_up_session(token)
        if isinstance(found, str):
            raise SessionInvalid(found)
        assert found is not None
        user_id, session_id, expires_at = found
        if time.time() >= expires_at:
            raise SessionInvalid("the session has expired or was ended; log in again")
        return Principal(user_id, ALL_SCOPES, session_id=session_id)

    def _look_up_session(self, token: str) -> tuple | str:
        found: tuple | str
        try:
            session_id = sessions.session_id_of(self.settings.secret_key, token)
            with self._reader.connect() as conn:
                user_id, expires_at = sessions.holder_of(conn, session_id)
            found = (user_id, session_id, expires_at.timestamp())
        except SessionInvalid as refused:
            found = str(refused)
        self._sessions.put(token, found)
        return found

    def _signed(self, request: bottle.BaseRequest, body: bytes) -> Principal:
        path = request.environ.get("PATH_INFO", "")
        query = request.environ.get("QUERY_STRING", "")
        return self.verify_signature(
            request.headers.get("X-API-Key", ""), request.headers.get("X-API-Timestamp", ""),
            request.headers.get("X-API-Signature", ""), request.method,
            path + ("?" + query if query else ""), body,
            client_address(request.environ, self.settings.trusted_proxies), claim=False)

    def session(self, token: str) -> Principal:
        return self._session(token)

    def verify_signature(self, key_id: str, timestamp: str, signature: str, method: str,
                         path_with_query: str, body: bytes, address: str, *,
                         claim: bool = True) -> Principal:
        if not timestamp or not signature:
            raise ApiError(401, "missing_signature",
                           "a request with X-API-Key also needs X-API-Timestamp and "
                           "X-API-Signature")
        if not timestamp.isdigit() or len(timestamp) > 16:
            raise ApiError(401, "invalid_timestamp", "X-API-Timestamp is unix time in ms")
        drift_ms = abs(int(time.time() * 1000) - int(timestamp))
        if drift_ms > self.settings.receive_window_ms:
            raise ApiError(401, "timestamp_out_of_window",
                           f"X-API-Timestamp is {drift_ms} ms from the server's clock; the "
                           f"window is {self.settings.receive_window_ms} ms")
        window_seconds = 2 * self.settings.receive_window_ms // 1000 + 1
        principal = self.key_principal(
            key_id, (timestamp + method + path_with_query).encode() + body, signature, address,
            window_seconds, "sign timestamp + METHOD + path with query + body with the key's "
            "secret (HMAC-SHA256, hex)")
        if claim:
            assert principal.signature_claim is not None
            first_use(bool(self.redis.set(principal.signature_claim[0], 1, nx=True,
                                          ex=window_seconds)))
        return principal

    def key_holder(self, key_id: str, address: str) -> Principal:
        """The owner of an API key presented without a signature, for what Binance asks no
        signature of (its user-data stream keys): the key exists, is not revoked, its
        owner not frozen, ``address`` allowed."""
        found = self._key(key_id) if len(key_id) <= 40 else None
        if found is None:
            raise ApiError(401, "invalid_api_key", "no API key has this id")
        key, _, frozen = found
        _check_holder(key, frozen, address)
        return Principal(key.user_id, frozenset(key.scopes), api_key_id=key.id)

    def key_principal(self, key_id: str, message: bytes, signature: str, address: str,
                      window_seconds: int, how_to_sign: str) -> Principal:
        """The caller of a request signed with ``key_id`` over ``message``, if the key
        exists, signed it, is not revoked, its owner not frozen and ``address`` allowed;
        its signature is left for the caller to claim for ``window_seconds``."""
        if len(key_id) > 40 or len(signature) != SIGNATURE_HEX_LENGTH:
            raise ApiError(401, "invalid_signature", "the signature does not match")
        found = self._key(key_id)
        if found is None:
            raise ApiError(401, "invalid_api_key", "no API key has this id")
        key, secret, frozen = found
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(401, "invalid_signature",
                           f"the signature does not match: {how_to_sign}")
        _check_holder(key, frozen, address)
        return Principal(key.user_id, frozenset(key.scopes), api_key_id=key.id,
                         signature_claim=(f"signature:{expected}", window_seconds))


def _check_holder(key: Any, frozen: bool, address: str) -> None:
    """Refuse a key that was revoked, whose owner is frozen, or not allowed ``address``."""
    if key.revoked_at is not None:
        raise ApiError(401, "api_key_revoked", "this API key was revoked")
    if frozen:
        raise ApiError(403, "account_frozen", "this account is frozen; contact support")
    if not key.allows_ip(address):
        raise ApiError(403, "ip_not_allowed", "this API key is not allowed from your address")


def first_use(claimed: bool) -> None:
    """Refuse a signed request whose signature was claimed before."""
    if not claimed:
        raise ApiError(401, "replayed_request", "this signed request was already received")
