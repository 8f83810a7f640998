"""Listen keys: the name of one API key's user-data stream (``/ws/<listenKey>``).

Kept in Redis, not PostgreSQL: a listen key is a session of a socket, not money, and
lives 60 minutes unless kept alive, which is Redis's own expiry (no table, no
migration, no sweep). Losing Redis loses only the keys: their sockets end with
``listenKeyExpired``, and clients (as against Binance) create a new key. One key per API
key, as Binance has one per account: asking again answers the same key and extends it.

    listen_key:{key}          -> "{user_id}:{api_key_id}", expiring
    listen_key_of:{api_key}   -> key, expiring with it
"""

from __future__ import annotations

import secrets
from typing import Iterable, NamedTuple

import redis

from api.binance.errors import BinanceError

LISTEN_KEY_SECONDS = 60 * 60
LISTEN_KEY_LENGTH = 60
NO_SUCH_KEY = "This listenKey does not exist."


class Owner(NamedTuple):
    user_id: int
    api_key_id: str


class ListenKeys:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, owner: Owner) -> str:
        """The API key's listen key (a new one if it has none), alive for an hour."""
        found = self.redis.get(_of(owner.api_key_id))
        key = found.decode() if found is not None else secrets.token_hex(LISTEN_KEY_LENGTH // 2)
        pipeline = self.redis.pipeline(transaction=True)
        pipeline.set(_key(key), f"{owner.user_id}:{owner.api_key_id}", ex=LISTEN_KEY_SECONDS)
        pipeline.set(_of(owner.api_key_id), key, ex=LISTEN_KEY_SECONDS)
        pipeline.execute()
        return key

    def keep_alive(self, owner: Owner, key: str) -> None:
        self._check(owner, key)
        pipeline = self.redis.pipeline(transaction=True)
        pipeline.expire(_key(key), LISTEN_KEY_SECONDS)
        pipeline.expire(_of(owner.api_key_id), LISTEN_KEY_SECONDS)
        pipeline.execute()

    def close(self, owner: Owner, key: str) -> None:
        self._check(owner, key)
        self.redis.delete(_key(key), _of(owner.api_key_id))

    def owner(self, key: str) -> Owner | None:
        if not _well_formed(key):
            return None
        found = self.redis.get(_key(key))
        if found is None:
            return None
        user_id, api_key_id = found.decode().split(":", 1)
        return Owner(int(user_id), api_key_id)

    def alive(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` still exist, in one round trip."""
        keys = list(keys)
        pipeline = self.redis.pipeline(transaction=False)
        for key in keys:
            pipeline.exists(_key(key))
        return {key for key, found in zip(keys, pipeline.execute()) if found}

    def _check(self, owner: Owner, key: str | None) -> None:
        if not key:
            raise BinanceError(400, -1102, "Mandatory parameter 'listenKey' was not sent, was "
                               "empty/null, or malformed.")
        if self.owner(key) != owner:   # another key's is refused as if unknown
            raise BinanceError(400, -1125, NO_SUCH_KEY)


def _well_formed(key: str) -> bool:
    return len(key) == LISTEN_KEY_LENGTH and all(c in "0123456789abcdef" for c in key)


def _key(key: str) -> str:
    return f"listen_key:{key}"


def _of(api_key_id: str) -> str:
    return f"listen_key_of:{api_key_id}"
