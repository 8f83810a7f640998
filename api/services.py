"""What route handlers use, built once per ``web`` process by ``api.app.create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import Engine

from api.auth import Authenticator
from api.ratelimit import RateLimiter
from config import Settings
from trading.batches import OrderBatcher


@dataclass(frozen=True)
class Services:
    engine: Engine
    settings: Settings
    limiter: RateLimiter
    authenticator: Authenticator
    batcher: OrderBatcher
    wake: Callable[[str], None]                       # a market's matcher
    enqueue_withdrawal: Callable[[str, str], None]    # (withdrawal id, currency)
    # After a commit that moved money outside trading: [(user id, currency, signed amount)]
    balances_changed: Callable[[list[tuple[int, str, str]]], None]
    # In autocommit mode: a read is one statement, no BEGIN and no ROLLBACK around it.
    reader: Engine
