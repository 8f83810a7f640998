"""Errors of the ledger (and ``money.AmountError``, which the ledger raises too).

    LedgerError
    ├── UnknownCurrency
    ├── UnbalancedTransfer
    ├── InsufficientFunds
    ├── IdempotencyConflict
    └── LedgerIntegrityError        (the database refused a write that broke an invariant)
"""

from __future__ import annotations

from money import AmountError as AmountError  # re-exported: the ledger refuses them too


class LedgerError(Exception):
    """Raised for any ledger failure; ``code`` is stable and machine-readable."""

    code = "ledger_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownCurrency(LedgerError):
    """Raised when a currency code is not configured."""

    code = "unknown_currency"


class UnbalancedTransfer(LedgerError):
    """Raised when a transfer's entries do not sum to zero in every currency."""

    code = "unbalanced_transfer"


class InsufficientFunds(LedgerError):
    """Raised when a transfer would take an account below zero."""

    code = "insufficient_funds"


class IdempotencyConflict(LedgerError):
    """Raised when an idempotency key is reused for a transfer with other content."""

    code = "idempotency_conflict"


class LedgerIntegrityError(LedgerError):
    """Raised when the database refuses a write that would break a ledger invariant."""

    code = "ledger_integrity"
