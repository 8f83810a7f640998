"""The ``matcher`` process's actor: a wake-up per market, coalesced.

The message carries no order: the runner reads its work from the database in
sequence order, so a duplicated, reordered or lost wake-up changes nothing (the
scheduler's sweep wakes any market with pending work every second); its wake-ups are
coalesced (``events.publishing``).

A market runs in one thread of one process at a time: a wake-up that finds its
market busy marks it dirty, and the busy thread goes round once more.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import dramatiq
from sqlalchemy.exc import OperationalError

import config
from db import engine as engines
from matcher.errors import StaleBook
from workers.matching.runner import MarketRunner
from events import channels, publishing
from workers import broker  # noqa: F401  (sets the broker)

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


def _runner(market: str) -> tuple[MarketRunner, threading.Lock]:
    global _engine
    with _lock:
        if _engine is None:
            _engine = engines.create(_settings.database_url, pool_size=4, key_lookups=True,
                                     autocommit=True)
        if market not in _runners:
            _runners[market] = MarketRunner(
                _engine, _settings.database_url, market, publish=publishing.publish_batch,
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
        remaining_ms = publishing.client().pttl(channels.wake_key(runner.symbol))
        if remaining_ms <= 0:  # -2: gone, -1: no expiry (never set so)
            return processed
        time.sleep(remaining_ms / 1000)
    return processed


@dramatiq.actor(queue_name=channels.MATCHER_QUEUE, max_retries=0)
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
