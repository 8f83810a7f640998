"""Errors of currency drivers, grouped by the reaction they need.

    CurrencyError
    ├── TemporaryNodeError     (retry later with backoff: the node is down or slow)
    │   └── WalletUnderfunded  (retry once the hot wallet is refilled)
    ├── NodeError              (the node refused the call: stop and tell an operator)
    ├── InvalidAddress         (bad input: the caller must fix the address)
    └── UnknownDriver          (configuration: no driver of that name)
"""


class CurrencyError(Exception):
    """Raised for any failure of a currency driver."""


class TemporaryNodeError(CurrencyError):
    """Raised when a node cannot be reached or times out; the call may be retried."""


class WalletUnderfunded(TemporaryNodeError):
    """Raised when the sending wallet holds less than a payment needs, fee included."""


class NodeError(CurrencyError):
    """Raised when a node answers with an error that a retry will not fix."""


class InvalidAddress(CurrencyError):
    """Raised when an address is malformed or belongs to another network or currency."""


class UnknownDriver(CurrencyError):
    """Raised when a currency is configured with a driver that does not exist."""
