"""The ``worker`` process's actors: withdrawals, deposits and notifications go here."""

import logging

import dramatiq

from workers import broker  # noqa: F401  (sets the broker)

log = logging.getLogger("worker")


@dramatiq.actor(queue_name="default", max_retries=0)
def ping(note: str) -> None:
    """Proves the worker consumes its queue (used by the process test)."""
    log.info("ping %s", note)
