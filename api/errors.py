"""The API's one error format and the one table from domain errors to HTTP.

    ApiError                      (raised by the API layer itself)
    domain errors (ledger.errors, currencies.errors) are translated once, here.

A response body is always ``{"error": {"code", "message", "field"}}``; ``code`` is
stable and documented, and no stack trace ever reaches a client.

A database that fails a request for a reason of its own answers 503 with
``Retry-After``, never a bare 500: ``service_unavailable`` when nothing was committed (or
the API cannot tell: a raw driver error of a lost connection), ``outcome_unknown`` when
a COMMIT went unanswered (``db.errors``). Redis unreachable or not answering in time
(every request's rate limits are counted there, before anything is changed) answers 503
``service_unavailable`` with ``Retry-After`` too.
"""

from __future__ import annotations

import redis
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from currencies.errors import CurrencyError, InvalidAddress, TemporaryNodeError
from custody.errors import CustodyError
from db import outcomes
from db.errors import CommitOutcomeUnknown, DatabaseError, DatabaseUnavailable
from ledger.errors import (
    AmountError, IdempotencyConflict, InsufficientFunds, LedgerError, UnknownCurrency,
)
from trading.errors import (
    InvalidOrder, MarketHalted, OrderError, OrderNotCancellable, OrderNotFound, UnknownMarket,
)
from users.errors import (
    AccessError, AccountFrozen, AllowlistTooBroad, EmailTaken, InvalidCredentials, InvalidInput,
    InvalidSecondFactor, NotFound, SecondFactorLocked, SecondFactorRequired, SessionInvalid,
)


class ApiError(Exception):
    """Raised by a handler to answer with an error; ``status`` is the HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


RETRY_AFTER_SECONDS = 1       # a lost connection or an unanswered commit: the pool reconnects
UNAVAILABLE = ("the database did not answer; try again shortly (a change this request asked "
               "for may or may not have been made: check before repeating one that is not "
               "idempotent)")

REDIS_UNAVAILABLE = ("a service this request needs is unavailable; try again shortly "
                     "(nothing was changed)")

# Domain error -> (HTTP status, code). Order matters: the first matching base wins.
ERROR_TABLE: tuple[tuple[type[Exception], int, str], ...] = (
    (AmountError, 400, "invalid_amount"),
    (UnknownCurrency, 404, "unknown_currency"),
    (InsufficientFunds, 422, "insufficient_funds"),
    (IdempotencyConflict, 409, "idempotency_conflict"),
    (InvalidAddress, 400, "invalid_address"),
    (TemporaryNodeError, 503, "currency_unavailable"),
    (CurrencyError, 503, "currency_unavailable"),
    (CustodyError, 0, ""),     # the error's own status and code
    (AllowlistTooBroad, 400, "ip_allowlist_too_broad"),
    (InvalidInput, 400, "invalid_request"),
    (EmailTaken, 409, "email_taken"),
    (InvalidCredentials, 401, "invalid_credentials"),
    (SecondFactorRequired, 401, "totp_required"),
    (InvalidSecondFactor, 401, "invalid_totp"),
    (SecondFactorLocked, 429, "second_factor_locked"),   # with Retry-After
    (SessionInvalid, 401, "invalid_session"),
    (NotFound, 404, "not_found"),
    (AccountFrozen, 403, "account_frozen"),
    (UnknownMarket, 404, "unknown_market"),
    (MarketHalted, 409, "market_halted"),
    (OrderNotFound, 404, "order_not_found"),
    (OrderNotCancellable, 409, "order_not_cancellable"),
    (InvalidOrder, 400, ""),   # the error's own code names the rule broken
    (CommitOutcomeUnknown, 503, "outcome_unknown"),
    (DatabaseUnavailable, 503, "service_unavailable"),
)


def translate(error: Exception) -> ApiError | None:
    """The ApiError for a domain error, or None for a bug (answered as a logged 500)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, (DBAPIError, PoolTimeout)) and outcomes.transient(error):
        error = DatabaseUnavailable(UNAVAILABLE)  # the driver's text names internal hosts
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return ApiError(503, "service_unavailable", REDIS_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    for error_type, status, code in ERROR_TABLE:
        if isinstance(error, error_type):
            field = getattr(error, "field", None)
            if isinstance(error, CurrencyError) and not isinstance(error, InvalidAddress):
                # Node errors name internal hosts: the client hears only what to do.
                return ApiError(status, code, "this currency's node is unavailable; try "
                                "again shortly")
            message = error.message if isinstance(
                error, (AmountError, LedgerError, AccessError, OrderError, CustodyError, DatabaseError)
            ) else str(error)
            if code == "":
                code = error.code  # type: ignore[attr-defined]
            if status == 0:
                status = error.status  # type: ignore[attr-defined]
            retry_after = RETRY_AFTER_SECONDS if isinstance(error, DatabaseError) else getattr(
                error, "retry_after_seconds", None)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return ApiError(status, code, message, field, headers)
    return None
