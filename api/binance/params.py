"""A request's parameters as Binance's clients send them: from the query string and from a
form-encoded body, for every method (python-binance sends DELETE's in the body, ccxt in
the query), whatever the Content-Type says; and the bytes a signature covers.

Values are read with Binance's rules: decimals are ``^[0-9]{1,20}(\\.[0-9]{1,20})?$``
(``"0.00100000"`` is exactly 0.001), integers are digits, and a parameter sent twice is
refused, since its two values could mean two different requests.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from urllib.parse import parse_qsl

from api.binance.errors import ILLEGAL, MANDATORY, BinanceError

DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
INTEGER = re.compile(r"-?[0-9]{1,19}")
SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class Params:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return bool(self.values.get(name))

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name) or None
        if value is None and required:
            raise BinanceError(400, -1102, MANDATORY.replace("%s", name))
        return value

    def required(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def decimal(self, name: str) -> Decimal | None:
        value = self.text(name)
        if value is None:
            return None
        if not DECIMAL.fullmatch(value):
            raise BinanceError(400, -1100, ILLEGAL.replace("%s", name))
        return Decimal(value)

    def integer(self, name: str, default: int | None = None, *, low: int | None = None,
                high: int | None = None) -> int | None:
        """An integer; ``high`` clamps (as Binance does for ``limit``), ``low`` refuses."""
        value = self.text(name)
        if value is None:
            return default
        if not INTEGER.fullmatch(value):
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                               "legal range is '^-?[0-9]{1,19}$'.")
        number = int(value)
        if low is not None and number < low:
            raise BinanceError(400, -1100, f"Illegal value for parameter '{name}': it is at "
                               f"least {low}.")
        return number if high is None else min(number, high)

    def limit(self, default: int, most: int) -> int:
        """``limit``: at least 1, ``default`` when absent, clamped to ``most``."""
        value = self.integer("limit", default, low=1, high=most)
        assert value is not None
        return value

    def choice(self, name: str, allowed: tuple[str, ...], code: int, msg: str,
               default: str | None = None) -> str | None:
        value = self.text(name) or default
        if value is not None and value not in allowed:
            raise BinanceError(400, code, msg)
        return value

    def names(self, name: str) -> list[str] | None:
        """A JSON list of strings (``symbols=["BTCUSDT","ETHUSDT"]``), or None."""
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                               "send a JSON list such as [\"BTCUSDT\",\"ETHUSDT\"].")
        return value


def parse(query: str, body: bytes) -> Params:
    values: dict[str, str] = {}
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise BinanceError(400, -1100, "The request body is not form-encoded text.") from None
    for part in (query, text):
        for name, value in parse_qsl(part, keep_blank_values=True):
            if name in values:
                raise BinanceError(400, -1101, f"Duplicate values for parameter '{name}'.")
            values[name] = value
    return Params(values)


def signed_payload(query: str, body: bytes) -> tuple[bytes, str | None]:
    """What the signature covers (the raw query string then the raw body, as received,
    without the ``signature`` pair) and the signature sent, if any."""
    signature = None
    parts = []
    for raw in (query.encode(), body):
        kept = []
        for pair in raw.split(b"&") if raw else []:
            if pair.startswith(b"signature="):
                signature = pair[len(b"signature="):].decode(errors="replace")
            else:
                kept.append(pair)
        parts.append(b"&".join(kept))
    return b"".join(parts), signature
