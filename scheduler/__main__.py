"""The ``scheduler`` process: periodic jobs, run by one leader while others wait.

Jobs: order expiry (every second), a sweep that wakes every matcher with pending
work (every second: stop triggers and lost messages), deposit scans and withdrawal
confirmations (every two seconds), reconciliation of the whole ledger and of every
node wallet against it (every minute), a backup (every BACKUP_INTERVAL_SECONDS), and
in demo mode a block on every simulated chain (every ten seconds).
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

import config
from db import engine as engines
from observability import logs, metrics
from scheduler import jobs
from scheduler.leader import Leadership

STANDBY_RETRY_SECONDS = 2
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
    while not stopping.is_set() and not leadership.try_acquire():
        log.info("standing by: another scheduler leads")
        stopping.wait(STANDBY_RETRY_SECONDS)
    if stopping.is_set():
        return
    log.info("leading")
    engine = engines.create(settings.database_url, pool_size=4)
    from events.publishing import enqueue_withdrawal, wake

    scheduler = BackgroundScheduler(timezone="UTC")
    now = datetime.now(timezone.utc)
    every = {"max_instances": 1, "coalesce": True, "next_run_time": now}
    scheduler.add_job(jobs.reconcile_ledger, "interval", args=[engine],
                      seconds=RECONCILE_INTERVAL_SECONDS, id="reconcile", **every)
    scheduler.add_job(lambda: jobs.expire_due(engine, datetime.now(timezone.utc), wake),
                      "interval", seconds=EXPIRY_INTERVAL_SECONDS, id="expire", **every)
    scheduler.add_job(jobs.sweep, "interval", args=[engine, wake],
                      seconds=SWEEP_INTERVAL_SECONDS, id="sweep", **every)
    import redis

    scheduler.add_job(jobs.observe, "interval",
                      args=[engine, redis.Redis.from_url(settings.redis_url)],
                      seconds=OBSERVE_INTERVAL_SECONDS, id="observe", **every)
    scheduler.add_job(jobs.scan_deposits, "interval", args=[engine, settings],
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
    scheduler.start()
    while not stopping.wait(STANDBY_RETRY_SECONDS):
        if not leadership.still_held():
            log.error("lost the leader lock; stopping so that a standby leads")
            break
    scheduler.shutdown(wait=True)
    leadership.release()
    engine.dispose()
    log.info("stopped")


if __name__ == "__main__":
    main()
