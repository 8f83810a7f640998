"""Errors of placing and cancelling orders.

    OrderError
    ├── InvalidOrder          (bad input: ``code`` names the rule, ``field`` the field)
    ├── UnknownMarket
    ├── MarketHalted
    ├── OrderNotFound         (no such order of the caller's)
    ├── OrderNotCancellable   (the order is closed already)
    └── ReservedIdTaken       (a bug: the id taken for an order is another's order)
"""

from __future__ import annotations


class OrderError(Exception):
    """Raised for any refusal of an order or a cancel; ``code`` is stable."""

    code = "invalid_order"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidOrder(OrderError):
    """Raised when an order breaks a rule of its market or of the API (see ``code``)."""


class UnknownMarket(OrderError):
    """Raised when the market does not exist."""

    code = "unknown_market"


class MarketHalted(OrderError):
    """Raised when the market is halted and takes no orders."""

    code = "market_halted"


class OrderNotFound(OrderError):
    """Raised when the order does not exist or is someone else's."""

    code = "order_not_found"


class OrderNotCancellable(OrderError):
    """Raised when a cancel names an order that is already filled, cancelled or expired."""

    code = "order_not_cancellable"


class ReservedIdTaken(OrderError):
    """Raised when the id an attempt took for its order names another user's order (never
    by design: ids come from the column's own sequence)."""

    code = "reserved_id_taken"
