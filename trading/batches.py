"""Group commit for placing orders: orders that arrive while a batch is being written go
into the next one, placed together in one transaction (see ``trading.placing.place_many``).

Each order is still decided alone and in arrival order; the batch only shares the
statements and the commit (two round trips), which are most of an order's cost. A batch
that fails as a whole (a deadlock, a lost connection) is retried an order per
transaction, so that one order's trouble never becomes another's. After each commit, the
callers have their answers, and then the new orders are announced and their markets'
matchers woken in one Redis round trip.

A batch whose COMMIT went unanswered may have committed. Its retries are safe all the
same: each order keeps the id it took (``Placement.reserved_id``), so a retry finds the
orders that committed and answers their callers with them, and inserts only the others,
under the same ids. Only failures that may pass (a lost connection, a deadlock) are
tried again, and a bounded number of times; a caller whose order's fate is still unknown
then hears ``CommitOutcomeUnknown`` (503 ``outcome_unknown``): sending it again with the
same ``client_order_id`` is safe.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db import outcomes
from db.errors import CommitOutcomeUnknown, DatabaseUnavailable
from ledger import LedgerError
from trading.placing import Placement, place_many
from observability import metrics

BATCH_ORDERS_MAX = 200
PLACEMENT_ATTEMPTS_MAX = 3        # each order of a failed batch, alone
RETRY_PAUSE_SECONDS = 0.05        # before the second attempt; twice that before the third
# A batch's failure that placing its orders alone may cure: the database's (a lost
# connection, a deadlock, a refused constraint), or the ledger's check of a balance.
_BATCH_FAILURES = (DBAPIError, PoolTimeout, CommitOutcomeUnknown, LedgerError)
UNCONFIRMED = ("the database did not confirm whether this order was placed; send it again "
               "with the same client_order_id (never placed twice), or look for it in "
               "GET /v1/orders")
log = logging.getLogger("api.orders")
Announce = Callable[[list[Placement]], None]    # the placements that created orders


class OrderBatcher:
    def __init__(self, engine: Engine, announce: Announce, writers: int = 2) -> None:
        self.engine, self.announce = engine, announce
        self._waiting: queue.SimpleQueue[tuple[Placement, threading.Event]] = \
            queue.SimpleQueue()
        for number in range(writers):
            threading.Thread(target=self._write_forever, name=f"order-writer-{number}",
                             daemon=True).start()

    def place(self, user_id: int, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The order and whether it is new (as ``trading.placing.place``), once committed."""
        placement, written = Placement(user_id, request), threading.Event()
        self._waiting.put((placement, written))
        written.wait()
        if placement.error is not None:
            raise placement.error
        assert placement.order is not None
        return placement.order, placement.created

    def _write_forever(self) -> None:
        while True:
            batch = [self._waiting.get()]
            while len(batch) < BATCH_ORDERS_MAX:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            placements = [placement for placement, _ in batch]
            try:
                self._write(placements)
            except Exception as error:  # every waiting caller hears of it; we go on
                log.exception("an order batch failed")
                for placement in placements:
                    if placement.order is None and placement.error is None:
                        placement.error = error
            finally:
                for _, written in batch:
                    written.set()
            self._announce(placements)

    def _write(self, placements: list[Placement]) -> None:
        metrics.ORDER_BATCH_ORDERS.observe(len(placements))
        try:
            with metrics.ORDER_BATCH_SECONDS.time():
                self._commit(placements)
            return
        except _BATCH_FAILURES as error:
            unknown = isinstance(error, CommitOutcomeUnknown)
            log.warning("a batch of %d orders failed as a whole (%s); placing them one by "
                        "one", len(placements), "perhaps committed" if unknown else
                        "rolled back", exc_info=True)
        attempts = PLACEMENT_ATTEMPTS_MAX
        for placement in placements:   # in arrival order, each decided after the ones before
            # While the database stays away, the next orders get one attempt each and no
            # pause (a batch of them would wait a pause each); once it answers, all again.
            answered = self._place_alone(placement, unknown, attempts)
            attempts = PLACEMENT_ATTEMPTS_MAX if answered else 1

    def _place_alone(self, placement: Placement, unknown: bool, attempts: int) -> bool:
        """Place one order of a failed batch again, while its failures may pass; its
        outcome stays ``unknown`` (an attempt may have committed) until one succeeds.
        False when the attempts ran out on failures that might have passed."""
        failure: Exception
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                time.sleep(RETRY_PAUSE_SECONDS * (attempt - 1))
            try:
                self._commit([placement])
                return True
            except CommitOutcomeUnknown as error:
                unknown, failure = True, error
            except (DBAPIError, PoolTimeout, LedgerError) as error:
                failure = error
                if not outcomes.transient(error):
                    break
            except Exception as error:  # this order's own refusal: the next ones go on
                failure = error
                break
        exhausted = attempt == attempts and (
            isinstance(failure, CommitOutcomeUnknown) or outcomes.transient(failure))
        if unknown:
            metrics.ORDER_OUTCOMES_UNKNOWN.inc()
            log.error("order of user %d: outcome unknown after %d attempts", placement.user_id,
                      attempt, exc_info=failure)
            placement.error = CommitOutcomeUnknown(UNCONFIRMED)
        elif outcomes.transient(failure):
            placement.error = DatabaseUnavailable(outcomes.UNREACHABLE)
        else:
            placement.error = failure
        return not exhausted

    def _announce(self, placements: list[Placement]) -> None:
        """After the callers have their answers: announcing is not part of accepting."""
        created = [p for p in placements if p.created]
        try:
            if created:
                self.announce(created)
        except Exception:   # the scheduler's sweep wakes any matcher with work within a second
            log.exception("announcing %d new orders failed", len(created))

    def _commit(self, placements: list[Placement]) -> None:
        try:
            # Two round trips: the first begins the transaction, the second commits it.
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                place_many(conn, placements, datetime.now(timezone.utc), own_transaction=True)
        except BaseException:
            for placement in placements:
                placement.forget()   # rolled back, or perhaps committed: a retry finds out
            raise
