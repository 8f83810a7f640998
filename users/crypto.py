"""Encryption at rest for secrets the server must read back (API key and TOTP secrets).

AES-256-GCM with a key derived from ``SECRET_KEY`` for one purpose each, so one
secret can never be decrypted in the place of another.
"""

from __future__ import annotations

import functools
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


@functools.lru_cache(maxsize=16)
def _key(secret_key: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"exchange:{purpose}".encode()).derive(secret_key)


def encrypt(secret_key: bytes, purpose: str, plaintext: bytes, context: str) -> bytes:
    """``context`` (e.g. the key id) is bound to the ciphertext: a row swapped between
    keys fails to decrypt."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_key(secret_key, purpose)).encrypt(nonce, plaintext, context.encode())


def decrypt(secret_key: bytes, purpose: str, ciphertext: bytes, context: str) -> bytes:
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    return AESGCM(_key(secret_key, purpose)).decrypt(nonce, body, context.encode())
