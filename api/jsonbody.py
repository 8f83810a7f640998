"""Strict JSON request bodies: bounded, an object at the top, no floats ever.

A JSON number with a fraction or exponent is kept as ``JsonNumber`` (its text),
never turned into a float, so that an amount sent as a number is refused with a
clear message instead of being silently rounded.
"""

from __future__ import annotations

import json
from typing import Any

from api.errors import ApiError

BODY_BYTES_MAX = 64 * 1024


class JsonNumber:
    """A non-integer JSON number, kept as text; not an amount (amounts are strings)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JsonNumber({self.text!r})"


def _refuse_constant(name: str) -> Any:
    raise ApiError(400, "invalid_json", f"{name} is not valid JSON; send amounts as decimal "
                                        f"strings such as \"1.5\"")


def decode_object(raw: bytes) -> dict[str, Any]:
    if len(raw) > BODY_BYTES_MAX:
        raise ApiError(413, "body_too_large", f"the request body exceeds {BODY_BYTES_MAX} bytes")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8"), parse_float=JsonNumber,
                           parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, "invalid_json", f"the request body is not valid UTF-8 JSON: {error}") \
            from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value
