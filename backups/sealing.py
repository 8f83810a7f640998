"""Streaming authenticated encryption of a backup file (AES-256-GCM in chunks).

Layout: ``MAGIC``, an 8-byte random nonce prefix, then chunks, each a 4-byte length
and the chunk's ciphertext with its tag. A chunk's nonce is the prefix and its
index, and the last chunk is sealed with a different associated data, so that
chunks can be neither reordered, dropped, nor cut off at the end unnoticed.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"EXBK1\n"
CHUNK_BYTES = 1 << 20
TAG_BYTES = 16
_MORE, _LAST = b"chunk", b"last chunk"


from backups.errors import BackupError


class SealBroken(BackupError):
    """Raised when a sealed file was altered, cut short, or sealed with another key."""


def _cipher(backup_key: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"exchange:backup").derive(backup_key))


def seal(source: Path, target: Path, backup_key: bytes) -> None:
    cipher, prefix = _cipher(backup_key), os.urandom(8)
    with source.open("rb") as plain, target.open("wb") as sealed:
        sealed.write(MAGIC + prefix)
        index, chunk = 0, plain.read(CHUNK_BYTES)
        while True:
            following = plain.read(CHUNK_BYTES)
            body = cipher.encrypt(prefix + struct.pack(">I", index), chunk,
                                  _MORE if following else _LAST)
            sealed.write(struct.pack(">I", len(body)) + body)
            if not following:
                return
            index, chunk = index + 1, following


def unseal(source: Path, target: Path, backup_key: bytes) -> None:
    cipher = _cipher(backup_key)
    with source.open("rb") as sealed, target.open("wb") as plain:
        if sealed.read(len(MAGIC)) != MAGIC:
            raise SealBroken(f"{source.name} is not a sealed backup")
        prefix, index = sealed.read(8), 0
        while True:
            header = sealed.read(4)
            if len(header) != 4:
                raise SealBroken(f"{source.name} ends before its last chunk")
            (length,) = struct.unpack(">I", header)
            body = sealed.read(length)
            if len(body) != length or length < TAG_BYTES:
                raise SealBroken(f"{source.name} is cut short")
            nonce = prefix + struct.pack(">I", index)
            try:
                plain.write(cipher.decrypt(nonce, body, _LAST))
                last = True
            except InvalidTag:
                try:
                    plain.write(cipher.decrypt(nonce, body, _MORE))
                except InvalidTag:
                    raise SealBroken(f"{source.name}: chunk {index} was altered, or the "
                                     "BACKUP_KEY is not the one it was sealed with") from None
                last = False
            if last:
                if sealed.read(1):
                    raise SealBroken(f"{source.name} has data after its last chunk")
                return
            index += 1
