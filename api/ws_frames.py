"""Messages as a WebSocket server sends them: JSON text in one unmasked frame (RFC 6455
section 5.2), encoded once, so that every socket that hears a message is written the same
bytes.

The JSON is compact (no spaces) and ASCII, as ``json.dumps(..., separators=(",", ":"))``
writes it.
"""

from __future__ import annotations

import json
import struct
from typing import Any

OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING = 0x1, 0x8, 0x9
FIN = 0x80
CLOSE_REASON_BYTES_MAX = 120     # a control frame's payload is at most 125 bytes

_encode = json.JSONEncoder(separators=(",", ":")).encode


def text(message: Any) -> bytes:
    """``message`` as JSON in one text frame."""
    return frame(_encode(message).encode(), OPCODE_TEXT)


def json_text(message: Any) -> str:
    """The JSON that ``text`` frames."""
    return _encode(message)


def frame(payload: bytes, opcode: int) -> bytes:
    length = len(payload)
    if length < 126:
        return bytes((FIN | opcode, length)) + payload
    if length <= 0xFFFF:
        return struct.pack("!BBH", FIN | opcode, 126, length) + payload
    return struct.pack("!BBQ", FIN | opcode, 127, length) + payload


def close(status: int, reason: str) -> bytes:
    """The close frame, with its status and (cut) reason."""
    return frame(struct.pack("!H", status) + reason.encode()[:CLOSE_REASON_BYTES_MAX],
                 OPCODE_CLOSE)


PING = frame(b"", OPCODE_PING)
