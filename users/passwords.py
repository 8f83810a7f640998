"""Passwords hashed with argon2id at or above OWASP's recommended parameters."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP (2025): argon2id with m=19 MiB, t=2, p=1 at least; we use more memory.
TIME_COST = 2
MEMORY_COST_KIB = 47_104
PARALLELISM = 1
PASSWORD_LENGTH_MIN = 10
PASSWORD_LENGTH_MAX = 256

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB,
                         parallelism=PARALLELISM, type=Type.ID)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
