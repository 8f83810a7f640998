"""The ``scheduler`` process: periodic jobs, run by one leader while others wait.

Jobs: order expiry (every second), a sweep that wakes every matcher with pending
work (every second: stop triggers and lost messages), deposit scans and withdrawal
confirmations (every two seconds), reconciliation of the whole ledger and of every
node wallet against it (every minute), a backup (every BACKUP_INTERVAL_SECONDS), and
in demo mode a block on every simulated chain (every ten seconds).

The process outlives the database: while it cannot reach PostgreSQL it tries again with
a growing delay, and a leader whose lock went with a restart of the database stops its
jobs and stands by until it (or another scheduler) takes the lock again.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

import config
from db import engine as engines
from observability import logs, metrics
from scheduler import jobs
from scheduler.leader import Leadership

STANDBY_RETRY_SECONDS = 2
UNREACHABLE_RETRY_MAX_SECONDS = 8
RECONCILE_INTERVAL_SECONDS = 60
EXPIRY_INTERVAL_SECONDS = 1
SWEEP_INTERVAL_SECONDS = 1
CHAIN_INTERVAL_SECONDS = 2
SIMULATED_BLOCK_SECONDS = 10
OBSERVE_INTERVAL_SECONDS = 5
log = logging.getLogger("scheduler")


def main() -> None:
    logs.configure("scheduler")
    metrics.serve_from_env(config.load().bind_host)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per run is noise
    settings = config.load()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    leadership = Leadership(settings.database_url)
    waiting = STANDBY_RETRY_SECONDS
    while not stopping.is_set():
        if leadership.try_acquire():
            lead(settings, leadership, stopping)
            waiting = STANDBY_RETRY_SECONDS
        elif leadership.unreachable:
            log.warning("the database is unreachable; trying again in %d s", waiting)
            stopping.wait(waiting)
            waiting = min(2 * waiting, UNREACHABLE_RETRY_MAX_SECONDS)
        else:
            log.info("standing by: another scheduler leads")
            stopping.wait(STANDBY_RETRY_SECONDS)
    leadership.release()
    log.info("stopped")


def lead(settings: config.Settings, leadership: Leadership, stopping: threading.Event) -> None:
    """Run the jobs while the lock is held. A lost lock (its session ended: the database
    restarted, or the connection broke) stops them, and the caller stands by again: a
    standby, or this process once the database is back, takes the lock and leads."""
    log.info("leading")
    engine = engines.create(settings.database_url, pool_size=4)
    scheduler = BackgroundScheduler(timezone="UTC")
    add_jobs(scheduler, engine, settings)
    scheduler.start()
    while not stopping.wait(STANDBY_RETRY_SECONDS):
        if not leadership.still_held():
            log.error("lost the leader lock; standing by until it is taken again")
            break
    scheduler.shutdown(wait=True)
    leadership.release()
    engine.dispose()


def add_jobs(scheduler: BackgroundScheduler, engine: Engine, settings: config.Settings) -> None:
    import redis

    from events.publishing import enqueue_withdrawal, publish_balances, wake

    now = datetime.now(timezone.utc)
    every = {"max_instances": 1, "coalesce": True, "next_run_time": now}
    scheduler.add_job(jobs.reconcile_ledger, "interval", args=[engine],
                      seconds=RECONCILE_INTERVAL_SECONDS, id="reconcile", **every)
    scheduler.add_job(lambda: jobs.expire_due(engine, datetime.now(timezone.utc), wake),
                      "interval", seconds=EXPIRY_INTERVAL_SECONDS, id="expire", **every)
    scheduler.add_job(jobs.sweep, "interval", args=[engine, wake],
                      seconds=SWEEP_INTERVAL_SECONDS, id="sweep", **every)
    scheduler.add_job(jobs.observe, "interval",
                      args=[engine, redis.Redis.from_url(settings.redis_url)],
                      seconds=OBSERVE_INTERVAL_SECONDS, id="observe", **every)
    scheduler.add_job(jobs.scan_deposits, "interval", args=[engine, settings, publish_balances],
                      seconds=CHAIN_INTERVAL_SECONDS, id="deposits", **every)
    scheduler.add_job(jobs.follow_withdrawals, "interval",
                      args=[engine, settings, enqueue_withdrawal],
                      seconds=CHAIN_INTERVAL_SECONDS, id="withdrawals", **every)
    scheduler.add_job(jobs.check_wallets, "interval", args=[engine, settings],
                      seconds=RECONCILE_INTERVAL_SECONDS, id="wallets", **every)
    if settings.backup_interval_seconds:
        scheduler.add_job(jobs.take_backup, "interval", args=[settings],
                          seconds=settings.backup_interval_seconds, id="backup",
                          max_instances=1, coalesce=True)
    if settings.demo_mode:
        scheduler.add_job(jobs.mine_simulated, "interval", args=[engine, settings],
                          seconds=SIMULATED_BLOCK_SECONDS, id="blocks", **every)


if __name__ == "__main__":
    main()
