"""The ``matcher`` process's actor: a wake-up per market, coalesced.

The message carries no order: the runner reads its work from the database in
sequence order, so a duplicated, reordered or lost wake-up changes nothing (the
scheduler's sweep wakes any market with pending work every second).

Coalescing: ``wake`` sends a message only if the market's wake key is absent, and
sets it for ``WAKE_KEY_TTL_MS``; so under load a market gets a few messages a
second, not one per order. The runner goes round again until the key has
expired, so work whose wake-up was held back is never left waiting.

A market runs in one thread of one process at a time: a wake-up that finds its
market busy marks it dirty, and the busy thread goes round once more.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from typing import Any, Callable

import dramatiq
import redis
from sqlalchemy.exc import OperationalError

import config
from db import engine as engines
from matcher.errors import StaleBook
from matcher.runner import MarketRunner
from workers import broker  # noqa: F401  (sets the broker)

MATCHER_QUEUE = "matcher"
WAKE_KEY_TTL_MS = 50
IDLE_POLL_MS_MAX = 20
ROUNDS_PER_WAKE_MAX = 10_000
TRANSIENT_RETRIES_MAX = 5
TRANSIENT_PGCODES = ("40P01", "40001")  # deadlock detected, serialization failure
log = logging.getLogger("matcher")

_settings = config.load()
_lock = threading.Lock()
_runners: dict[str, MarketRunner] = {}
_busy: dict[str, threading.Lock] = {}
_dirty: set[str] = set()
_engine = None
_redis = redis.Redis.from_url(_settings.redis_url)
# Set when the worker is told to stop: a runner ends after its current batch (committed),
# and the rest is handed back: the scheduler's sweep wakes whichever matcher leads next.
_stopping = threading.Event()


class _StopAfterBatch(dramatiq.Middleware):
    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Heard at once (Dramatiq itself looks at its flag once a second).
        previous = signal.getsignal(signal.SIGTERM)

        def stop(signum: int, frame: object) -> None:
            _stopping.set()
            if callable(previous):
                previous(signum, frame)
        signal.signal(signal.SIGTERM, stop)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        _stopping.set()


class _PromptWakeUps(dramatiq.Middleware):
    """Dramatiq's consumer polls an idle queue ever less often, up to once a second. A busy
    matcher's queue is idle (its wake-ups are coalesced while it works), so the first
    wake-up after a burst waited up to that second: settlement's p99 was 0.4 s."""

    def after_consumer_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        thread.worker_timeout = min(thread.worker_timeout, IDLE_POLL_MS_MAX)


broker.broker.add_middleware(_StopAfterBatch())
broker.broker.add_middleware(_PromptWakeUps())


def wake_key(market: str) -> str:
    return f"matcher:wake:{market}"


Send = Callable[[list[tuple]], list]   # Redis commands -> their answers, in one round trip


def wake(market: str, send: Send | None = None) -> None:
    """Ask the market's matcher to look at its work; one pending wake-up is enough."""
    wake_all([market], send)


def wake_all(markets: list[str], send: Send | None = None,
             publish: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
    """Wake each market's matcher, after publishing ``(channel, message)`` pairs: all in
    one Redis round trip (``send``'s, or a pipeline's), then a message to each matcher
    whose wake key was absent."""
    commands = [("PUBLISH", channel, message) for channel, message in publish]
    commands += [("SET", wake_key(market), 1, "NX", "PX", WAKE_KEY_TTL_MS)
                 for market in markets]
    answers = (send or _pipelined)(commands)[len(publish):]
    for market, answer in zip(markets, answers):
        if answer is not None:   # set (it was absent), or an error: a wake-up too many
            wake_matcher.send(market)


def _pipelined(commands: list[tuple]) -> list:
    pipeline = _redis.pipeline(transaction=False)
    for command in commands:
        pipeline.execute_command(*command)
    return pipeline.execute()


def _publish(market: str, changes: dict) -> None:
    """After commit: the market's channel for every web process, and each user's."""
    by_user: dict[int, dict] = {}
    for order in changes["orders"]:
        by_user.setdefault(order.pop("user_id"), {"orders": [], "fills": []})["orders"].append(
            order)
    for trade in changes["trades"]:
        for side in ("maker", "taker"):
            by_user.setdefault(trade[f"{side}_user_id"], {"orders": [], "fills": []})[
                "fills"].append({"order_id": trade[f"{side}_order_id"], "price": trade["price"],
                                 "quantity": trade["quantity"], "liquidity": side})
    public = {"market": market, "time": changes["time"], "book": changes["book"],
              "trades": [{k: t[k] for k in ("price", "quantity", "taker_side")}
                         for t in changes["trades"]]}
    pipeline = _redis.pipeline(transaction=False)
    pipeline.publish(f"market:{market}", json.dumps(public))
    for user_id, events in by_user.items():
        pipeline.publish(f"user:{user_id}", json.dumps({"market": market, **events}))
    pipeline.execute()


def _runner(market: str) -> tuple[MarketRunner, threading.Lock]:
    global _engine
    with _lock:
        if _engine is None:
            _engine = engines.create(_settings.database_url, pool_size=4, key_lookups=True,
                                     autocommit=True)
        if market not in _runners:
            _runners[market] = MarketRunner(
                _engine, _settings.database_url, market, publish=_publish,
                batch_requests=_settings.matcher_batch_requests)
            _busy[market] = threading.Lock()
        return _runners[market], _busy[market]


def _run_with_retries(runner: MarketRunner) -> int:
    """Run the market's pending work; a deadlock, a serialization failure or a stale book
    rolled the batch back whole (and the book is rebuilt), so running again is safe."""
    for attempt in range(1, TRANSIENT_RETRIES_MAX + 1):
        try:
            return runner.run_pending(_stopping.is_set)
        except StaleBook as error:
            if attempt == TRANSIENT_RETRIES_MAX:
                raise
            log.warning("%s: %s", runner.symbol, error)
        except OperationalError as error:
            if attempt == TRANSIENT_RETRIES_MAX or \
                    getattr(error.orig, "pgcode", None) not in TRANSIENT_PGCODES:
                raise
            log.warning("%s: transient database error, retrying: %s", runner.symbol,
                        error.orig)
    return 0


def _run_until_quiet(runner: MarketRunner) -> int:
    """Run, and run again while a held-back wake-up may still be pending (the key lives)."""
    processed = 0
    for _ in range(ROUNDS_PER_WAKE_MAX):
        if _stopping.is_set():
            return processed
        processed += _run_with_retries(runner)
        remaining_ms = _redis.pttl(wake_key(runner.symbol))
        if remaining_ms <= 0:  # -2: gone, -1: no expiry (never set so)
            return processed
        time.sleep(remaining_ms / 1000)
    return processed


@dramatiq.actor(queue_name=MATCHER_QUEUE, max_retries=0)
def wake_matcher(market: str) -> None:
    runner, busy = _runner(market)
    while True:
        with _lock:
            _dirty.add(market)
        if not busy.acquire(blocking=False):
            return  # the thread that holds it sees the dirty mark and goes round again
        try:
            with _lock:
                _dirty.discard(market)
            processed = _run_until_quiet(runner)
            if processed:
                log.info("%s: processed %d requests", market, processed)
        finally:
            busy.release()
        with _lock:
            if market not in _dirty:
                return
