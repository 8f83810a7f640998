"""JSON Schemas shared by the routes' declarations (and so by the OpenAPI document)."""

from __future__ import annotations

from typing import Any

# An amount, price or quantity: a decimal string, never a JSON number.
# Decimals past the currency's scale must be zeros ("20.00000000" at scale 6 is 20), which
# ledger.amounts.parse_amount checks; the length bounds them here.
AMOUNT = {"type": "string", "pattern": "^(0|[1-9][0-9]{0,29})(\\.[0-9]{1,47})?$",
          "maxLength": 49, "x-amount": True, "examples": ["0.0015"],
          "description": "a decimal string of at most 49 characters; any decimals past the "
                         "currency's scale must be zeros (it is never rounded)"}
SIGNED_AMOUNT = {"type": "string", "pattern": "^-?(0|[1-9][0-9]{0,29})(\\.[0-9]{1,18})?$"}
CURRENCY_CODE = {"type": "string", "pattern": "^[A-Z][A-Z0-9]{1,9}$"}
TIMESTAMP = {"type": "string", "format": "date-time"}
TOTP_CODE = {"type": "string", "maxLength": 14, "description":
             "the current 6-digit code, or a recovery code such as abcd-efgh-ijkl"}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
CURSOR = {"type": "string", "maxLength": 40, "pattern": "^[0-9]{1,19}$"}

ERROR = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "field"],
        "additionalProperties": False,
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": ["string", "null"]}},
    }},
}


def obj(required: list[str] | None = None, **properties: Any) -> dict:
    """A closed object schema: every property listed, unknown ones refused."""
    return {"type": "object", "additionalProperties": False,
            "required": required if required is not None else list(properties),
            "properties": properties}


def page_of(item: dict) -> dict:
    return obj(items={"type": "array", "items": item},
               next_cursor={"type": ["string", "null"]})
