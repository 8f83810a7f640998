"""Every request a client sent and what came back, including that nothing did."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    client: int
    operation: str          # place_native, place_binance, cancel, withdraw, read
    request: dict[str, Any]
    status: int | None      # None: no answer (a timeout, a reset connection)
    answer: Any             # the decoded body, or the error's name


@dataclass
class History:
    records: list[Record] = field(default_factory=list)
    negative_reads: list[tuple[int, dict]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)

    def saw_negative(self, client: int, balance: dict) -> None:
        with self._lock:
            self.negative_reads.append((client, balance))

    def acknowledged(self) -> Counter[str]:
        return Counter(r.operation for r in self.records if r.status is not None
                       and 200 <= r.status < 300)

    def of(self, operation: str) -> list[Record]:
        return [r for r in self.records if r.operation == operation]
