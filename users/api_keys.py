"""API keys for bots: an id and a secret, scopes, an optional IP allow-list.

The secret is returned once at creation. The server must read it back to check
HMAC signatures, so it is kept encrypted (``users.crypto``), never in plain text.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from db.schema import api_keys, users
from users import crypto, ip_allowlist
from users.errors import InvalidInput, NotFound

SCOPES = ("read", "trade", "withdraw")
KEYS_PER_USER_MAX = 30
LABEL_LENGTH_MAX = 100
_PURPOSE = "api-key"


@dataclass(frozen=True)
class ApiKey:
    id: str
    user_id: int
    label: str
    scopes: tuple[str, ...]
    ip_allowlist: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    # Parsed once per read of the key, not on every signed request.
    networks: tuple[ip_allowlist.Network, ...] = field(default=(), compare=False, repr=False)

    def allows_ip(self, address: str) -> bool:
        return ip_allowlist.allows(self.networks, address)

    def public(self) -> dict:
        return {"id": self.id, "label": self.label, "scopes": list(self.scopes),
                "ip_allowlist": list(self.ip_allowlist),
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def checked(scopes: object, label: object, allowlist: object
            ) -> tuple[list[str], str, list[str]]:
    """The scopes, label and networks of a new key, or InvalidInput naming the field."""
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        raise InvalidInput(f"scopes must be a non-empty list of {', '.join(SCOPES)}",
                           field="scopes")
    if not isinstance(label, str) or len(label) > LABEL_LENGTH_MAX:
        raise InvalidInput(f"label must be a string of at most {LABEL_LENGTH_MAX} characters",
                           field="label")
    networks = ip_allowlist.parsed(allowlist, withdraw="withdraw" in scopes)
    return sorted(set(scopes), key=SCOPES.index), label, [str(n) for n in networks]


def create(conn: Connection, secret_key: bytes, user_id: int, scopes: object, label: object,
           allowlist: object) -> tuple[ApiKey, str]:
    """A new key and its secret (to show once)."""
    checked_scopes, checked_label, networks = checked(scopes, label, allowlist)
    # Serialise creations per user so that the bound below holds under concurrency.
    conn.execute(select(users.c.id).where(users.c.id == user_id)
                 .with_for_update(key_share=True))
    active = conn.execute(select(func.count()).select_from(api_keys).where(
        api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))).scalar_one()
    if active >= KEYS_PER_USER_MAX:
        raise InvalidInput(f"at most {KEYS_PER_USER_MAX} active keys; revoke one first")
    key_id = "ak_" + secrets.token_hex(12)
    secret = secrets.token_hex(32)
    row = conn.execute(api_keys.insert().values(
        id=key_id, user_id=user_id, label=checked_label, scopes=checked_scopes,
        ip_allowlist=networks,
        secret_encrypted=crypto.encrypt(secret_key, _PURPOSE, secret.encode(), key_id),
    ).returning(*api_keys.c)).one()
    return _key(row), secret


def listed(conn: Connection, user_id: int) -> list[ApiKey]:
    rows = conn.execute(select(api_keys).where(api_keys.c.user_id == user_id)
                        .order_by(api_keys.c.created_at.desc(), api_keys.c.id)
                        .limit(KEYS_PER_USER_MAX * 10)).all()
    return [_key(row) for row in rows]


def revoke(conn: Connection, user_id: int, key_id: str) -> None:
    """Revoke one of the caller's keys; someone else's key is "not found", never "forbidden"."""
    done = conn.execute(update(api_keys).where(
        api_keys.c.id == key_id, api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None)
    ).values(revoked_at=func.now())).rowcount
    if done != 1:
        raise NotFound("no active API key of yours has this id", field="id")


def for_signature(conn: Connection, secret_key: bytes, key_id: str
                  ) -> tuple[ApiKey, bytes, bool] | None:
    """The key, its secret (to check a signature) and whether its owner is frozen."""
    row = conn.execute(select(api_keys, users.c.frozen_at)
                       .join(users, users.c.id == api_keys.c.user_id)
                       .where(api_keys.c.id == key_id)).first()
    if row is None:
        return None
    secret = crypto.decrypt(secret_key, _PURPOSE, row.secret_encrypted, key_id)
    return _key(row), secret, row.frozen_at is not None


def _key(row) -> ApiKey:  # type: ignore[no-untyped-def]
    networks = tuple(ipaddress.ip_network(n) for n in row.ip_allowlist)
    return ApiKey(row.id, row.user_id, row.label, tuple(row.scopes),
                  tuple(str(n) for n in networks), row.created_at, row.revoked_at, networks)
