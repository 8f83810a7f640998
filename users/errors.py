"""Errors of sign-up, authentication and keys.

    AccessError
    ├── InvalidInput            (bad input: the caller must fix a field)
    ├── EmailTaken
    ├── InvalidCredentials      (wrong email or password: never says which)
    ├── SecondFactorRequired
    ├── InvalidSecondFactor
    ├── SecondFactorLocked      (too many wrong codes: retry after retry_after_seconds)
    ├── AllowlistTooBroad       (a withdraw key's IP allow-list names too wide a network)
    ├── SessionInvalid          (expired, revoked or forged token)
    ├── NotFound                (no such object of the caller's)
    └── AccountFrozen
"""

from __future__ import annotations


class AccessError(Exception):
    """Raised for any refusal by the access layer; ``code`` is stable."""

    code = "access_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(AccessError):
    """Raised when a field is missing, malformed or out of bounds."""

    code = "invalid_request"


class EmailTaken(AccessError):
    """Raised when signing up with an email that already has an account."""

    code = "email_taken"


class InvalidCredentials(AccessError):
    """Raised when the email or the password is wrong."""

    code = "invalid_credentials"


class SecondFactorRequired(AccessError):
    """Raised when the second factor is enabled and no code was given."""

    code = "totp_required"


class InvalidSecondFactor(AccessError):
    """Raised when a second-factor code is wrong, expired or already used."""

    code = "invalid_totp"


class SecondFactorLocked(AccessError):
    """Raised when a user's recent wrong codes reached the bound: no code is checked
    (not even a right one) for ``retry_after_seconds``."""

    code = "second_factor_locked"

    def __init__(self, message: str, *, retry_after_seconds: int,
                 field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_seconds = retry_after_seconds


class AllowlistTooBroad(AccessError):
    """Raised when a key with the withdraw scope would be usable from too wide a network."""

    code = "ip_allowlist_too_broad"


class SessionInvalid(AccessError):
    """Raised when a session token is forged, expired or revoked."""

    code = "invalid_session"


class NotFound(AccessError):
    """Raised when an object does not exist or belongs to someone else."""

    code = "not_found"


class AccountFrozen(AccessError):
    """Raised when an operator has frozen the account."""

    code = "account_frozen"
