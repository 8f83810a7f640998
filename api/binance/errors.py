"""The face's errors: an HTTP 4xx/5xx with ``{"code": -NNNN, "msg": "..."}``, and the one
table from every native error code to Binance's code and message.

The messages are Binance's own where ccxt matches on them, so that it raises the class
a bot expects (``InsufficientFunds``, ``OrderNotFound``, ``InvalidNonce``...); see
shared/BINANCE.md section 7. ``%s`` in a message is the field the native error names, ``%m`` its message (where
ccxt goes by the code alone, the native message says better what to fix).
"""

from __future__ import annotations

from api.errors import ApiError

UNKNOWN = "An unknown error occurred while processing the request."
INTERNAL = "Internal error; unable to process your request. Please try again."
STATUS_UNKNOWN = ("An unexpected response was received from the message bus. Execution "
                  "status unknown.")
MANDATORY = "Mandatory parameter '%s' was not sent, was empty/null, or malformed."
ILLEGAL = ("Illegal characters found in parameter '%s'; legal range is "
           "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
NOT_REQUIRED = "Parameter '%s' sent when not required."
KEY_FORMAT = "API-key format invalid."
BAD_KEY = "Invalid API-key, IP, or permissions for action."
BAD_SIGNATURE = "Signature for this request is not valid."
OUTSIDE_WINDOW = "Timestamp for this request is outside of the recvWindow."
AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
NO_BALANCE = "Account has insufficient balance for requested action."
BAD_SYMBOL = "Invalid symbol."
NO_SUCH_ORDER = "Order does not exist."
UNKNOWN_ORDER = "Unknown order sent."
CLOSED = "Market is closed."
WOULD_TRIGGER = "Order would trigger immediately."
WOULD_TAKE = "Order would immediately match and take."
DUPLICATE = "Duplicate order sent."
COMBINATION = "Unsupported order combination."
NOT_PERMITTED = "This account may not place or cancel orders."
TRADING_DISABLED = "Rest API trading is not enabled."
WEIGHT = ("Too much request weight used; current limit is %s. Please use WebSocket Streams "
          "for live updates to avoid polling the API.")


def filter_failure(name: str) -> str:
    return f"Filter failure: {name}"


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.headers = status, code, msg, headers or {}


# Native code -> (HTTP status, Binance code, message). None keeps the native status or
# message (what to do is said better there than by any Binance text).
TABLE: dict[str, tuple[int | None, int, str | None]] = {
    # input
    "invalid_request": (400, -1102, MANDATORY),
    "invalid_amount": (400, -1100, ILLEGAL),
    "invalid_json": (400, -1100, None),
    "body_too_large": (413, -1100, None),
    "invalid_order": (400, -1014, COMBINATION + " %m"),
    "price_off_tick": (400, -1013, filter_failure("PRICE_FILTER")),
    "quantity_off_lot": (400, -1013, filter_failure("LOT_SIZE")),
    "below_min_notional": (400, -1013, filter_failure("NOTIONAL")),
    "too_many_open_orders": (400, -1013, filter_failure("MAX_NUM_ORDERS")),
    "stop_price_wrong_side": (400, -2010, WOULD_TRIGGER),
    "expire_at_in_past": (400, -1013, None),
    "unknown_market": (400, -1121, BAD_SYMBOL),
    "market_halted": (400, -1013, CLOSED),
    "insufficient_funds": (400, -2010, NO_BALANCE),
    "order_not_found": (400, -2013, NO_SUCH_ORDER),
    "order_not_cancellable": (400, -2011, UNKNOWN_ORDER),
    # bugs and broken invariants, answered as internal errors whatever their class
    "reserved_id_taken": (500, -1000, UNKNOWN),
    "access_error": (500, -1000, UNKNOWN),
    "database_error": (500, -1000, UNKNOWN),
    "hold_exceeded": (500, -1000, UNKNOWN),
    "ledger_error": (500, -1000, UNKNOWN),
    "ledger_integrity": (500, -1000, UNKNOWN),
    "matcher_error": (500, -1000, UNKNOWN),
    "stale_book": (500, -1000, UNKNOWN),
    "unbalanced_transfer": (500, -1000, UNKNOWN),
    # who is calling
    "authentication_required": (401, -2014, KEY_FORMAT),
    "missing_signature": (400, -1102, MANDATORY),
    "invalid_timestamp": (400, -1102, MANDATORY),
    "timestamp_out_of_window": (400, -1021, OUTSIDE_WINDOW),
    "replayed_request": (400, -1021, None),       # a nonce used twice: ccxt's InvalidNonce
    "invalid_signature": (400, -1022, BAD_SIGNATURE),
    "invalid_api_key": (401, -2015, BAD_KEY),
    "api_key_revoked": (401, -2015, BAD_KEY),
    "ip_not_allowed": (401, -2015, BAD_KEY),
    "insufficient_scope": (403, -2015, TRADING_DISABLED),
    "account_frozen": (403, -2010, NOT_PERMITTED),
    "session_required": (403, -1002, None),
    "invalid_session": (401, -1002, None),
    "session_expired": (401, -1002, None),
    "session_revoked": (401, -1002, None),
    "invalid_credentials": (401, -1002, None),
    "totp_required": (401, -1002, None),
    "invalid_totp": (401, -1002, None),
    "second_factor_locked": (429, -1002, None),
    # limits and availability
    "rate_limited": (429, -1003, None),
    "faucet_limit": (429, -1003, None),
    "service_unavailable": (503, -1001, INTERNAL),
    "outcome_unknown": (503, -1006, STATUS_UNKNOWN),
    "currency_unavailable": (503, -1001, None),
    "snapshot_unavailable": (503, -1001, None),
    "internal_error": (500, -1000, None),
    # what the face never serves, mapped all the same (one table for every native code)
    "not_found": (404, -1000, None),
    "method_not_allowed": (405, -1000, None),
    "unknown_currency": (400, -1100, None),
    "email_taken": (409, -1000, None),
    "ip_allowlist_too_broad": (400, -1100, None),
    "idempotency_conflict": (409, -1000, None),
    "idempotency_key_required": (400, -1102, None),
    "invalid_address": (400, -1100, None),
    "withdrawal_not_found": (404, -1000, None),
    "withdrawal_not_cancellable": (409, -1000, None),
    "withdrawal_not_pending": (409, -1000, None),
    "withdrawals_paused": (409, -1000, None),
    "below_minimum": (400, -1100, None),
    "above_maximum": (400, -1100, None),
    "daily_limit_exceeded": (400, -1000, None),
    "address_not_allowed": (403, -1002, None),
    "address_cooling_off": (403, -1002, None),
    "too_many_addresses": (400, -1000, None),
    "idempotency_key_reused": (409, -1000, None),
    "address_not_found": (404, -1000, None),
    "faucet_disabled": (403, -1002, None),
    "not_published": (404, -1000, None),
    "not_in_snapshot": (404, -1000, None),
    "websocket_required": (400, -1000, None),
    "origin_not_allowed": (403, -1002, None),
    "invalid_message": (400, -1100, None),
    "message_too_large": (400, -1100, None),
    "unknown_channel": (400, -1100, None),
    "too_many_subscriptions": (400, -1100, None),
}
UNMAPPED = (None, -1000, None)   # a code added without its line here (tests/api/binance fail)


def from_native(error: ApiError) -> BinanceError:
    """The Binance error for a native one; Retry-After and the like are kept."""
    status, code, msg = TABLE.get(error.code, UNMAPPED)
    if msg is None:
        msg = error.message
    msg = msg.replace("%s", error.field or "").replace("%m", error.message)
    if error.code == "rate_limited":
        msg = WEIGHT.replace("%s", error.message.split("(")[-1].split(")")[0])
    return BinanceError(status or error.status, code, msg, error.headers)
