"""Group commit for order entry: orders that arrive while a batch is being written go
into the next one, placed together in one transaction (see ``matcher.orders.place_many``).

Each order is still decided alone and in arrival order; the batch only shares the
statements and the commit (two round trips), which are most of an order's cost. A batch
that fails as a whole (a deadlock, a lost connection) is retried an order per
transaction, so that one order's trouble never becomes another's. After each commit, the
callers have their answers, and then the new orders are announced and their markets'
matchers woken in one Redis round trip.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from matcher.orders import Placement, place_many
from observability import metrics

BATCH_ORDERS_MAX = 200
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
        """The order and whether it is new (as ``matcher.orders.place``), once committed."""
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
        except DBAPIError:
            if len(placements) == 1:
                raise
            log.warning("a batch of %d orders failed as a whole; placing them one by one",
                        len(placements), exc_info=True)
            for placement in placements:
                try:
                    self._commit([placement])
                except DBAPIError as error:
                    placement.error = error

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
        except DBAPIError:
            for placement in placements:
                placement.forget()   # rolled back
            raise
