"""Errors of the matching core, settlement and the runner around them.

    MatcherError
    ├── HoldExceeded          (a bug: a trade would spend more than its order holds)
    └── StaleBook             (another runner wrote the market: the batch is void)
"""

from __future__ import annotations


class MatcherError(Exception):
    """Raised when a batch cannot be applied as it is; ``code`` is stable."""

    code = "matcher_error"


class HoldExceeded(MatcherError):
    """Raised when a fill would spend more than its order holds (never by design)."""

    code = "hold_exceeded"


class StaleBook(MatcherError):
    """Raised when a batch's book is not the market's as committed (another runner wrote
    the market since it was built): the batch is void and the book is rebuilt."""

    code = "stale_book"
