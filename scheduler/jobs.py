"""The scheduler's periodic jobs (each bounded, each safe to run twice)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import Engine, select, text

import config
from currencies.base import CurrencyDriver
from currencies.errors import CurrencyError
from currencies.registry import driver_for
from currencies.simulated import SimulatedChain
from custody import deposits, pauses, wallets, withdrawals
from db.schema import currencies
from ledger import Discrepancy, format_amount, reconcile
from observability import metrics
from matcher.statuses import ACTIVE
from trading.matcher_requests import pending_markets

EXPIRIES_PER_RUN_MAX = 1000
log = logging.getLogger("scheduler")
Wake = Callable[[str], None]
Enqueue = Callable[[str, str], None]       # (withdrawal id, currency)
QUEUES = ("matcher", "withdrawals", "default")
# A queued or interrupted withdrawal untouched this long gets another attempt.
WITHDRAWAL_RETRY_AFTER_SECONDS = 10


def expire_due(engine: Engine, now: datetime, wake: Wake) -> int:
    """Queue an expiry for every active order whose time has come; the matcher applies it
    in sequence. Returns how many were queued (an order gets at most one)."""
    with engine.begin() as conn:
        markets = conn.execute(text(f"""
            INSERT INTO matcher_requests (sequence, market, kind, order_id)
            SELECT nextval('matcher_sequence'), market, 'expire', id
              FROM (SELECT market, id FROM orders
                     WHERE status IN {ACTIVE} AND expire_at <= :now
                     ORDER BY expire_at LIMIT :limit) due
            ON CONFLICT DO NOTHING
            RETURNING market"""), {"now": now, "limit": EXPIRIES_PER_RUN_MAX}).scalars().all()
    for market in set(markets):
        wake(market)
    return len(markets)


def sweep(engine: Engine, wake: Wake) -> list[str]:
    """Wake every market with pending work, so that a lost message is only a delay."""
    with engine.connect() as conn:
        markets = pending_markets(conn)
    for market in markets:
        wake(market)
    return markets


@dataclass(frozen=True)
class Stopped:
    """What a reconciliation difference stopped until an operator resumes it."""
    markets: list[str] = field(default_factory=list)       # halted
    withdrawals: list[str] = field(default_factory=list)   # currencies paused


def reconcile_ledger(engine: Engine) -> Stopped:
    """Reconcile; on any difference pause the withdrawals and halt every market of the
    currencies concerned (every currency when a difference names none). Money that
    cannot be accounted for must not leave, nor change hands."""
    found = reconcile(engine)
    metrics.RECONCILIATION_DISCREPANCIES.set(len(found))
    metrics.RECONCILIATION_LAST_RUN.set_to_current_time()
    if not found:
        log.info("reconciliation: ledger clean")
        return Stopped()
    for discrepancy in found:
        log.error("reconciliation: %s", discrepancy)
    # Markets first: a pause waits for each currency's payment in flight (its send lock).
    symbols = _halt_markets(engine, {d.currency for d in found})
    for symbol in symbols:
        log.error("reconciliation: market %s halted until an operator resumes it", symbol)
    paused = _pause_withdrawals(engine, found)
    for code in paused:
        log.error("reconciliation: %s withdrawals paused until an operator resumes them", code)
    return Stopped(symbols, paused)


def _pause_withdrawals(engine: Engine, found: list[Discrepancy]) -> list[str]:
    with engine.begin() as conn:
        concerned = {d.currency for d in found}
        codes = pauses.every_currency(conn) if None in concerned else sorted(concerned)
        reasons = {}
        for code in codes:
            its = [d for d in found if d.currency in (code, None)]
            reasons[code] = (f"reconciliation found {len(its)} difference(s) in the ledger, "
                             f"the first: {its[0]}")
        return pauses.pause(conn, reasons)


def _halt_markets(engine: Engine, currencies_concerned: set[str | None]) -> list[str]:
    with engine.begin() as conn:
        if None in currencies_concerned:
            halted = conn.execute(text("UPDATE markets SET status = 'halted' "
                                       "WHERE status = 'open' RETURNING symbol"))
        else:
            halted = conn.execute(text(
                "UPDATE markets SET status = 'halted' WHERE status = 'open' "
                "AND (base = ANY(:c) OR quote = ANY(:c)) RETURNING symbol"),
                {"c": sorted(currencies_concerned)})
        return sorted(halted.scalars())


def _each_currency(engine: Engine, settings: config.Settings,
                   work: Callable[[CurrencyDriver], object]) -> dict[str, object]:
    """Run ``work`` for every currency's driver; one node's failure stops no other."""
    with engine.connect() as conn:
        codes = conn.execute(select(currencies.c.code).order_by(currencies.c.code)).scalars()
        codes = list(codes)
    results = {}
    for code in codes:
        try:
            results[code] = work(driver_for(engine, code, settings))
        except CurrencyError as error:
            log.warning("%s: %s", code, error)
    return results


def scan_deposits(engine: Engine, settings: config.Settings,
                  publish: Callable[[list[tuple[int, str, str]]], None] | None = None
                  ) -> dict[str, object]:
    """Each currency's scan; ``publish`` hears of the deposits credited (their owners'
    channels: a failure to tell them loses no money, it is logged)."""
    def scan(driver: CurrencyDriver) -> deposits.ScanResult:
        found = deposits.scan(engine, driver)
        if found.credits and publish is not None:
            try:
                publish([(user, code, format_amount(amount, driver.scale))
                         for user, code, amount in found.credits])
            except Exception as error:   # noqa: BLE001  (Redis away: the credit stands)
                log.warning("could not announce %d deposits: %s", len(found.credits), error)
        driver.consolidate()
        return found
    return _each_currency(engine, settings, scan)


def follow_withdrawals(engine: Engine, settings: config.Settings,
                       enqueue: Enqueue) -> dict[str, object]:
    """Confirmations of sent withdrawals, and another attempt for stalled ones."""
    for withdrawal_id, currency in withdrawals.unfinished(engine,
                                                          WITHDRAWAL_RETRY_AFTER_SECONDS):
        enqueue(str(withdrawal_id), currency)
    return _each_currency(engine, settings, lambda driver: withdrawals.follow(engine, driver))


def check_wallets(engine: Engine, settings: config.Settings) -> dict[str, object]:
    def check(driver: CurrencyDriver) -> wallets.WalletCheck:
        found = wallets.check(engine, driver)
        metrics.WALLET_SHORTFALL.labels(driver.code).set(float(found.shortfall))
        return found
    return _each_currency(engine, settings, check)


def observe(engine: Engine, redis_client) -> None:  # type: ignore[no-untyped-def]
    """Gauges of what waits: queue depths, the matchers' backlog, withdrawals."""
    for queue in QUEUES:
        metrics.QUEUE_DEPTH.labels(queue).set(redis_client.llen(f"dramatiq:{queue}"))
    with engine.connect() as conn:
        metrics.MATCHER_BACKLOG.set(conn.execute(text(
            "SELECT count(*) FROM matcher_requests WHERE processed_at IS NULL")).scalar_one())
        metrics.MARKETS_HALTED.set(conn.execute(text(
            "SELECT count(*) FROM markets WHERE status = 'halted'")).scalar_one())
        # A sending one that needs an operator is counted apart: its payment may be out.
        waiting = dict(conn.execute(text(
            "SELECT status || CASE WHEN needs_attention THEN '_attention' ELSE '' END, "
            "count(*) FROM withdrawals WHERE status IN ('pending_approval', 'queued', "
            "'sending', 'attention') GROUP BY 1")).all())
    for status in ("pending_approval", "queued", "sending", "sending_attention", "attention"):
        metrics.WITHDRAWALS_WAITING.labels(status).set(waiting.get(status, 0))


def mine_simulated(engine: Engine, settings: config.Settings) -> None:
    """Demo only: a block on every simulated chain, as a real chain would find one."""
    def mine(driver: CurrencyDriver) -> None:
        if isinstance(driver, SimulatedChain):
            driver.mine(1)
    _each_currency(engine, settings, mine)


def take_backup(settings: config.Settings) -> str:
    from backups import archive
    from backups.targets import target_for

    manifest = archive.take(settings, target_for(settings))
    metrics.BACKUP_LAST_SUCCESS.set_to_current_time()
    log.info("backup %s taken (%s bytes)", manifest["name"], manifest["dump_bytes"])
    return manifest["name"]
