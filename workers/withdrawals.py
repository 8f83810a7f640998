"""The ``worker`` process's withdrawal actor: one attempt to pay one withdrawal.

A message carries only the withdrawal's id; the attempt reads everything else
from the database, so a duplicated message is harmless (attempts of a currency
are serialised and the second finds the withdrawal already sent) and a lost one
is re-sent by the scheduler.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq

import config
from currencies.errors import TemporaryNodeError
from currencies.registry import driver_for
from custody import withdrawals
from db import engine as engines
from events import channels
from observability import metrics
from workers import broker  # noqa: F401  (sets the broker)

log = logging.getLogger("worker")
_settings = config.load()
_engine = None


def _database():
    global _engine
    if _engine is None:
        _engine = engines.create(_settings.database_url, pool_size=4)
    return _engine


@dramatiq.actor(queue_name=channels.WITHDRAWALS_QUEUE, max_retries=0)
def send_withdrawal(withdrawal_id: str, currency: str) -> None:
    engine = _database()
    try:
        status = withdrawals.send(engine, driver_for(engine, currency, _settings),
                                  uuid.UUID(withdrawal_id))
    except TemporaryNodeError as error:
        log.warning("withdrawal %s: node unavailable, retried later: %s", withdrawal_id, error)
        return
    metrics.WITHDRAWAL_ATTEMPTS.labels(status).inc()
    log.info("withdrawal %s: %s", withdrawal_id, status)
