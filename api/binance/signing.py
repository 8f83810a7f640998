"""Binance's SIGNED scheme over the native API keys.

``signature`` = hex(HMAC-SHA256(secret, raw query string + raw body)) without the
``signature`` pair; ``timestamp`` (ms) within ``recvWindow`` (5000 by default, at most
60000) of the server's clock and at most 1000 ms ahead of it; the key in
``X-MBX-APIKEY``. As on ``/v1``, a signature is accepted once: it is claimed in Redis
for longer than its timestamp stays valid, in the round trip of the caller's rate limit.
"""

from __future__ import annotations

import time

from api.auth import Authenticator, Principal
from api.binance.errors import AHEAD, KEY_FORMAT, MANDATORY, OUTSIDE_WINDOW, BinanceError
from api.binance.params import SIGNATURE, Params

RECV_WINDOW_DEFAULT_MS = 5000
RECV_WINDOW_MAX_MS = 60_000
AHEAD_MAX_MS = 1000
HOW_TO_SIGN = ("hex HMAC-SHA256 of the raw query string followed by the raw body, without "
               "the signature pair, with the key's secret")


def key_id(headers: object) -> str:
    found = getattr(headers, "get")("X-MBX-APIKEY") or ""
    if not found or len(found) > 40:
        raise BinanceError(401, -2014, KEY_FORMAT)
    return str(found)


def principal(authenticator: Authenticator, key: str, params: Params, payload: bytes,
              signature: str | None, address: str) -> Principal:
    """The caller of a signed request, its signature left to claim; or a refusal."""
    timestamp = params.integer("timestamp")
    if timestamp is None:
        raise BinanceError(400, -1102, MANDATORY.replace("%s", "timestamp"))
    if not signature or not SIGNATURE.fullmatch(signature):
        raise BinanceError(400, -1102, MANDATORY.replace("%s", "signature"))
    window = params.integer("recvWindow", RECV_WINDOW_DEFAULT_MS, low=1)
    assert window is not None
    if window > RECV_WINDOW_MAX_MS:
        raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    now = int(time.time() * 1000)
    if timestamp >= now + AHEAD_MAX_MS:
        raise BinanceError(400, -1021, AHEAD)
    if now - timestamp > window:
        raise BinanceError(400, -1021, OUTSIDE_WINDOW)
    # Kept until the timestamp can no longer pass, and a second more.
    keep_seconds = (window + AHEAD_MAX_MS) // 1000 + 2
    return authenticator.key_principal(key, payload, signature, address, keep_seconds,
                                       HOW_TO_SIGN)
