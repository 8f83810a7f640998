"""``python -m demo_maker``: the ``maker`` process of the Procfile.

Outside demo mode it places nothing: it says so and waits to be stopped (exiting at once
would have a process runner that restarts what exits start it again and again). In demo
mode it opens a session with the exchange and steps every market once a second; when the
API is away (a restart, a 503 during a database restart, a 429) it backs off and opens a
new session, which starts from a clean slate. SIGTERM or SIGINT: it cancels its quotes and
exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time

import ccxt

import config
from observability import logs
from demo_maker.accounts import Accounts
from demo_maker.errors import AccountRefused, ApiAway, Stopped
from demo_maker.funding import top_up
from demo_maker.maker import Maker
from demo_maker.opening import open_session
from demo_maker.pacing import Backoff, Pacer

STEP_SECONDS = 1.0
FUNDING_SECONDS = 60            # at most this often, a faucet round for a short account
REPORT_SECONDS = 60
OPENING_PER_SECOND = 2.0        # the budget until exchangeInfo has told the real one
CLOSING_TIMEOUT_MS = 2000
# Worth another session after a backoff: the API away or busy (ccxt's OperationFailed
# holds its NetworkError, DDoSProtection and the 503 service_unavailable), or anything
# the exchange refused that a fresh start may cure (a revoked key, a halted market).
TEMPORARY = (ccxt.OperationFailed, ApiAway)
REFUSED = (ccxt.ExchangeError, AccountRefused)

log = logging.getLogger("demo_maker")


def main() -> int:
    logs.configure("maker")
    settings = config.load()
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    if not settings.demo_mode:
        log.info("demo mode is off: the maker places no order, and waits to be stopped")
        stop.wait()
        return 0
    run(settings, stop)
    log.info("stopped")
    return 0


def run(settings: config.Settings, stop: threading.Event) -> None:
    pacer = Pacer(OPENING_PER_SECOND, stop)
    accounts = Accounts(settings.api_public_url, settings.demo_maker_state, pacer)
    backoff = Backoff(stop)
    maker: Maker | None = None
    fresh = True
    try:
        while True:
            try:
                if fresh:
                    maker = open_session(settings.api_public_url, accounts, pacer,
                                         settings.demo_maker_seed, settings.demo_maker_markets)
                    fresh = False
                    backoff.reset()
                assert maker is not None
                _trade(maker, accounts, pacer, stop)
            except TEMPORARY as error:
                log.warning("the exchange is away or busy (%s): again in %.1f s",
                            _short(error), backoff.seconds)
                fresh = True
                backoff.wait()
            except REFUSED as error:
                log.error("refused (%s): a new session in %.1f s", _short(error),
                          backoff.seconds)
                fresh = True
                backoff.wait()
    except Stopped:
        pass
    if maker is not None:
        _close(maker)


def _trade(maker: Maker, accounts: Accounts, pacer: Pacer, stop: threading.Event) -> None:
    funded_at = reported_at = time.monotonic()
    currencies = {c for m in maker.markets for c in (m.rules.base, m.rules.quote)}
    while True:
        maker.step()
        now = time.monotonic()
        if maker.short and now - funded_at > FUNDING_SECONDS:
            for role in sorted(maker.short):
                top_up(accounts, role, maker.maker if role == "maker" else maker.taker,
                       currencies)
            maker.short.clear()
            funded_at = now
        if now - reported_at > REPORT_SECONDS:
            log.info("so far %s, %d requests", maker.counts, pacer.taken)
            reported_at = now
        if stop.wait(STEP_SECONDS):
            raise Stopped()


def _close(maker: Maker) -> None:
    """Cancel every quote, unpaced and quickly: the process is expected to end soon."""
    for exchange in (maker.maker, maker.taker):
        exchange.enableRateLimit = False
        exchange.timeout = CLOSING_TIMEOUT_MS
    try:
        maker.cancel_all()
        log.info("cancelled every quote; in all %s", maker.counts)
    except ccxt.BaseError as error:
        log.warning("could not cancel the quotes (%s): the next start will", _short(error))


def _short(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:200]}"


if __name__ == "__main__":
    sys.exit(main())
