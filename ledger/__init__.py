"""The append-only double-entry ledger: every movement of money is a transfer.

Glossary (one meaning each):
    account   one owner's (or the exchange's) money of one currency and kind
    transfer  one business event, identified by an idempotency key
    entry     one signed amount on one account within a transfer
    balance   the sum of an account's entries
    hold      a transfer from a user's available account to their held account
"""

from ledger.accounts import Account, AccountKind, account
from money import format_amount, parse_amount, round_down, round_up, unit
from ledger.balances import UserBalance, balance, user_balances, user_balances_now
from ledger.errors import (
    AmountError, IdempotencyConflict, InsufficientFunds, LedgerError, LedgerIntegrityError,
    UnbalancedTransfer, UnknownCurrency,
)
from ledger.reconcile import Discrepancy, reconcile
from ledger.transfers import Entry, Posted, Transfer, move, post, post_many, post_new

__all__ = [
    "Account", "AccountKind", "AmountError", "Discrepancy", "Entry", "IdempotencyConflict",
    "InsufficientFunds", "LedgerError", "LedgerIntegrityError", "Posted", "Transfer",
    "UnbalancedTransfer", "UnknownCurrency", "UserBalance", "account", "balance",
    "format_amount", "move", "parse_amount", "post", "post_many", "post_new", "reconcile",
    "round_down",
    "round_up", "unit", "user_balances", "user_balances_now",
]
