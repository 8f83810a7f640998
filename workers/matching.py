"""The ``matcher`` process's actor: a wake-up per market.

The message carries no order: the matcher reads its work from the database in
sequence order, so a duplicated, reordered or lost wake-up changes nothing. (The
matching itself arrives with the trading issue; until then a wake-up is logged.)
"""

import logging

import dramatiq

from workers import broker  # noqa: F401  (sets the broker)

MATCHER_QUEUE = "matcher"
log = logging.getLogger("matcher")


@dramatiq.actor(queue_name=MATCHER_QUEUE, max_retries=0)
def wake_matcher(market: str) -> None:
    log.info("wake-up for %s", market)
