"""Errors of deposits and withdrawals: each carries its HTTP status and stable code."""

from __future__ import annotations


class CustodyError(Exception):
    status = 400

    def __init__(self, code: str, message: str, field: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field
        if status is not None:
            self.status = status


class WithdrawalRefused(CustodyError):
    """Raised when a withdrawal request breaks a rule; nothing is held."""


class WithdrawalNotFound(CustodyError):
    status = 404

    def __init__(self) -> None:
        super().__init__("withdrawal_not_found", "no withdrawal of yours has this id")


class WithdrawalNotCancellable(CustodyError):
    status = 409
