"""The one spelling of every channel, queue and actor name that crosses processes."""

from __future__ import annotations

from typing import Final

MARKET_CHANNELS: Final = "market:*"     # a market's committed batches, for every web process
USER_CHANNELS: Final = "user:*"         # one user's orders and fills
MATCHER_QUEUE: Final = "matcher"
WITHDRAWALS_QUEUE: Final = "withdrawals"
WAKE_MATCHER_ACTOR: Final = "wake_matcher"          # workers.matching.actor
SEND_WITHDRAWAL_ACTOR: Final = "send_withdrawal"    # workers.withdrawals' actor


def market_channel(symbol: str) -> str:
    return f"market:{symbol}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def is_market_channel(channel: str) -> bool:
    return channel.startswith("market:")


def user_of(channel: str) -> int:
    """The user a ``user:{id}`` channel belongs to."""
    return int(channel.split(":", 1)[1])


def wake_key(market: str) -> str:
    """The Redis key whose presence says a wake-up for the market is on its way."""
    return f"matcher:wake:{market}"
