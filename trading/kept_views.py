"""Views of rows that have not changed, made once.

Bots read their open orders and each order's state every few seconds, and each time
almost every order is as it was. Making an order's view (a dozen amounts formatted at
their scales, its times) was most of such a read's CPU, and turning its two dozen
columns into Python values a third of the rest. A view depends on its row alone: the
scales it formats at are its currencies', which never change, and every session shows
times in UTC (``db.engine``), so rows that are equal show the same text.

So each view is kept by its row's id with the row's version: the row's own text as
PostgreSQL writes it (``trading.order_reads``), which differs whenever any column
differs. A read first asks only for the ids and versions of the rows it finds; when
every one is kept at that version, the kept views are its answer. Otherwise it reads
the rows themselves, and each gets its kept view if its version is the kept one, else a
view made afresh. Rows are always read from the database: only the formatting is
saved, never a read.

Each caller gets its own copy of a view, which it may add to. At most ``ROWS_KEPT_MAX``
are kept; the least recently shown are dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Generic, TypeVar

ROWS_KEPT_MAX = 5_000          # about 6 MB of versions and views
Context = TypeVar("Context")


class KeptViews(Generic[Context]):
    """``make(row, context)``, kept: ``context`` must follow from the row (its market's
    listing, its currencies' scales), since only the row's version is compared."""

    def __init__(self, make: Callable[[Any, Context], dict[str, Any]],
                 size_max: int = ROWS_KEPT_MAX) -> None:
        self.make, self.size_max = make, size_max
        self._kept: OrderedDict[int, tuple[str, dict[str, Any]]] = OrderedDict()
        self.made = 0                  # views made afresh (for tests)

    def of(self, versions: list[Any], rows: Callable[[], list[Any]],
           context_of: Callable[[Any], Context]) -> list[dict[str, Any]]:
        """The views of the rows that ``versions`` (each with ``id`` and ``version``)
        lists, if every one is kept at its version; else the views of ``rows()`` (each
        row with its ``version``), read afresh."""
        shown = []
        for found in versions:
            kept = self._kept.get(found.id)
            if kept is None or kept[0] != found.version:
                return [self.view(row, context_of(row)) for row in rows()]
            self._shown(found.id)
            shown.append(dict(kept[1]))
        return shown

    def view(self, row: Any, context: Context) -> dict[str, Any]:
        """The view of ``row`` (with its ``version``): the kept one if made from this
        version, else made afresh and kept."""
        kept = self._kept.get(row.id)
        if kept is not None and kept[0] == row.version:
            self._shown(row.id)
            return dict(kept[1])
        view = self.make(row, context)
        self.made += 1
        self._kept[row.id] = (row.version, view)
        self._shown(row.id)            # a changed row is the most recently shown too
        while len(self._kept) > self.size_max:
            try:
                self._kept.popitem(last=False)
            except KeyError:
                break
        return dict(view)

    def _shown(self, row_id: int) -> None:
        try:
            self._kept.move_to_end(row_id)
        except KeyError:               # dropped meanwhile by another thread: no matter
            pass
