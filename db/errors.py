"""Errors of the database layer, by what the caller can know of its transaction.

    DatabaseError
    ├── DatabaseUnavailable     (nothing was committed: the database could not be reached,
    │                            or it ended the transaction before any COMMIT was sent)
    └── CommitOutcomeUnknown    (COMMIT was sent and its answer never came: the
                                 transaction may have committed, or not)

Both are temporary: the API answers 503 with ``Retry-After``. Only a request that is
idempotent (an order's ``client_order_id``, a withdrawal's ``Idempotency-Key``) is safe
to repeat after ``CommitOutcomeUnknown``.
"""

from __future__ import annotations


class DatabaseError(Exception):
    """Raised when the database fails a request for a reason that is not the request's."""

    code = "database_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DatabaseUnavailable(DatabaseError):
    """Raised when the database could not be reached or dropped the connection before
    COMMIT was sent: nothing was committed, and a retry may succeed."""

    code = "service_unavailable"


class CommitOutcomeUnknown(DatabaseError):
    """Raised when the connection failed while COMMIT was in flight (or its answer unread),
    so the transaction may have committed."""

    code = "outcome_unknown"
