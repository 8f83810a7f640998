"""What the maker raises.

    MakerError
    ├── AccountRefused     the native API would not make, key or fund an account
    ├── ApiAway            the API could not be reached, or answered that it is busy
    └── Stopped            the process was asked to stop while waiting
"""

from __future__ import annotations


class MakerError(Exception):
    """The root of the maker's errors."""


class AccountRefused(MakerError):
    """Raised when the native API refuses to sign up, log in, key or fund an account."""


class ApiAway(MakerError):
    """Raised when the native API cannot be reached or answers 429 or 5xx: try again later."""


class Stopped(MakerError):
    """Raised when a wait is cut short because the process is stopping."""
