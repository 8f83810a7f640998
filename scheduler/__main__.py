"""The ``scheduler`` process: periodic jobs, run by one leader while others wait.

Jobs so far: reconciliation of the whole ledger. Later issues add expirations,
stop-trigger sweeps, matcher wake-ups, chain polling and backups.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

import config
from db import engine as engines
from ledger import reconcile
from scheduler.leader import Leadership

STANDBY_RETRY_SECONDS = 2
RECONCILE_INTERVAL_SECONDS = 60
log = logging.getLogger("scheduler")


def reconcile_job(engine) -> None:  # type: ignore[no-untyped-def]
    found = reconcile(engine)
    if found:
        for discrepancy in found:
            log.error("reconciliation: %s", discrepancy)
    else:
        log.info("reconciliation: ledger clean")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
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
    engine = engines.create(settings.database_url, pool_size=2)
    jobs = BackgroundScheduler(timezone="UTC")
    jobs.add_job(reconcile_job, "interval", args=[engine], seconds=RECONCILE_INTERVAL_SECONDS,
                 id="reconcile", max_instances=1, coalesce=True,
                 next_run_time=datetime.now(timezone.utc))
    jobs.start()
    while not stopping.wait(STANDBY_RETRY_SECONDS):
        if not leadership.still_held():
            log.error("lost the leader lock; stopping so that a standby leads")
            break
    jobs.shutdown(wait=True)
    leadership.release()
    engine.dispose()
    log.info("stopped")


if __name__ == "__main__":
    main()
