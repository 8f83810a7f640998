"""Errors of currency drivers, grouped by the reaction they need.

    CurrencyError
    ├── TemporaryNodeError     (retry later with backoff: the node is down or slow)
    │   └── PaymentDeferred    (nothing was signed or sent: the payment waits in the queue)
    │       └── WalletUnderfunded  (retry once the hot wallet is refilled)
    ├── NodeError              (the node refused the call: stop and tell an operator)
    │   └── PaymentRefused     (the payment provably never was and never can be made)
    ├── InvalidAddress         (bad input: the caller must fix the address)
    └── UnknownDriver          (configuration: no driver of that name)

A payment's funds go back to its user only on ``PaymentRefused``. Any other error
from ``send`` may hide a payment that is out, or signed and able to go out: a plain
``NodeError`` (an HTTP 401/403, a refused lookup) keeps the withdrawal ``sending``
for an operator, and a ``TemporaryNodeError`` keeps it ``sending`` for a retry.
"""


class CurrencyError(Exception):
    """Raised for any failure of a currency driver."""


class TemporaryNodeError(CurrencyError):
    """Raised when a node cannot be reached or times out; the call may be retried."""


class PaymentDeferred(TemporaryNodeError):
    """Raised when a payment cannot be made now and nothing was signed or sent for it."""


class WalletUnderfunded(PaymentDeferred):
    """Raised when the sending wallet holds less than a payment needs, fee included."""


class NodeError(CurrencyError):
    """Raised when a node answers with an error that a retry will not fix."""


class PaymentRefused(NodeError):
    """Raised when a payment was refused and the chain or wallet proves it can never be made."""


class InvalidAddress(CurrencyError):
    """Raised when an address is malformed or belongs to another network or currency."""


class UnknownDriver(CurrencyError):
    """Raised when a currency is configured with a driver that does not exist."""
