"""Publishing and wake-ups: Redis commands in as few round trips as there are callers.

Coalesced wake-ups: ``wake_all`` sends a matcher a message only if its market's wake key
is absent, and sets it for ``WAKE_KEY_TTL_MS``; so under load a market gets a few
messages a second, not one per order (its runner goes round again until the key has
expired, so work whose wake-up was held back is never left waiting). Messages to actors
go by name (``events.channels``): a sender imports no worker module.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import dramatiq
import redis

import config
from events import channels
from events.broker import broker
from events.messages import Message, balance_messages, batch_messages, new_order_messages

WAKE_KEY_TTL_MS = 50
Send = Callable[[list[tuple[Any, ...]]], list[Any]]   # Redis commands -> answers, one round trip


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(config.load().redis_url)


def pipelined(commands: list[tuple[Any, ...]]) -> list[Any]:
    """``commands`` in one round trip of this process's own client."""
    pipeline = client().pipeline(transaction=False)
    for command in commands:
        pipeline.execute_command(*command)
    return pipeline.execute()


def wake(market: str, send: Send | None = None) -> None:
    """Ask the market's matcher to look at its work; one pending wake-up is enough."""
    wake_all([market], send)


def wake_all(markets: Sequence[str], send: Send | None = None,
             publish: Sequence[Message] = ()) -> None:
    """Publish ``publish``, then wake each market's matcher: all in one Redis round trip
    (``send``'s, or a pipeline's), then a message to each matcher whose wake key was absent."""
    commands: list[tuple[Any, ...]] = [("PUBLISH", channel, text) for channel, text in publish]
    commands += [("SET", channels.wake_key(market), 1, "NX", "PX", WAKE_KEY_TTL_MS)
                 for market in markets]
    answers = (send or pipelined)(commands)[len(publish):]
    for market, answer in zip(markets, answers):
        if answer is not None:   # set (it was absent), or an error: a wake-up too many
            _enqueue(channels.MATCHER_QUEUE, channels.WAKE_MATCHER_ACTOR, market)


def publish_batch(market: str, changes: dict[str, Any], send: Send | None = None) -> None:
    """After a matcher batch committed: its messages, in one round trip."""
    (send or pipelined)([("PUBLISH", channel, text)
                         for channel, text in batch_messages(market, changes)])


def publish_balances(changes: list[tuple[int, str, str]], send: Send | None = None) -> None:
    """After a commit that moved money outside trading: each owner's channel hears of it."""
    (send or pipelined)([("PUBLISH", channel, text) for channel, text in
                         balance_messages(changes)])


def announce_orders(orders: list[tuple[int, dict[str, Any]]], send: Send | None = None) -> None:
    """New orders: their owners' channels hear of them before the matchers are woken."""
    wake_all(sorted({order["market"] for _, order in orders}), send, new_order_messages(orders))


def enqueue_withdrawal(withdrawal_id: str, currency: str) -> None:
    """One attempt to pay a withdrawal, for a ``worker`` process."""
    _enqueue(channels.WITHDRAWALS_QUEUE, channels.SEND_WITHDRAWAL_ACTOR, withdrawal_id, currency)


def _enqueue(queue: str, actor: str, *args: Any) -> None:
    broker.enqueue(dramatiq.Message(queue_name=queue, actor_name=actor, args=args, kwargs={},
                                    options={}))
