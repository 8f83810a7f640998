"""The maker's request budget, read from exchangeInfo's ``rateLimits``, and its backoff
when the API is away or says it is busy.

The exchange counts every request from an address (and from each key) alike, and the
website in a browser on the same machine shares the address, so the maker spends only a
share of the tightest limit.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterable

from demo_maker.errors import Stopped

BUDGET_SHARE = 0.5          # of the tightest limit the exchange announces
BURST_REQUESTS_MAX = 5      # requests sent back to back after a quiet spell
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
BACKOFF_SECONDS_MIN = 0.5
BACKOFF_SECONDS_MAX = 30.0


def budget_per_second(rate_limits: Iterable[dict[str, Any]]) -> float:
    """The requests a second the maker allows itself under the announced limits."""
    rates = [item["limit"] / (INTERVAL_SECONDS[item["interval"]] * item["intervalNum"])
             for item in rate_limits if item["rateLimitType"] in ("REQUEST_WEIGHT",
                                                                  "RAW_REQUESTS")]
    if not rates:
        raise ValueError("exchangeInfo announced no request limit")
    return float(BUDGET_SHARE * min(rates))


class Pacer:
    """A token bucket: ``take`` waits until a request fits the budget."""

    def __init__(self, per_second: float, stop: threading.Event) -> None:
        self.per_second = per_second
        self._stop = stop
        self._tokens = float(BURST_REQUESTS_MAX)
        self._at = time.monotonic()
        self.taken = 0

    def take(self) -> None:
        while True:
            now = time.monotonic()
            self._tokens = min(BURST_REQUESTS_MAX,
                               self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.taken += 1
                return
            if self._stop.wait((1 - self._tokens) / self.per_second):
                raise Stopped()


class Backoff:
    """Waits that double from BACKOFF_SECONDS_MIN to BACKOFF_SECONDS_MAX until ``reset``."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self.seconds = BACKOFF_SECONDS_MIN

    def wait(self) -> None:
        if self._stop.wait(self.seconds):
            raise Stopped()
        self.seconds = min(BACKOFF_SECONDS_MAX, self.seconds * 2)

    def reset(self) -> None:
        self.seconds = BACKOFF_SECONDS_MIN
