"""Views of rows that have not changed, made once.

Bots read their open orders and each order's state every few seconds, and each time
almost every order is as it was. Making an order's view (a dozen amounts formatted at
their scales, its times) was most of such a read's CPU. A view depends on its row alone:
the scales it formats at are its currencies', which never change, and every session
shows times in UTC (``db.engine``), so rows that are equal show the same text. So each
row's view is kept by the row's id with the row it was made from; a row read again
that is equal to the kept one, column by column, gets the kept view, and any other
row a view made afresh. The row is read from the database each time: only the
formatting is saved, never a read.

Each caller gets its own copy of the view, which it may add to. At most
``ROWS_KEPT_MAX`` are kept; the least recently shown are dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Generic, TypeVar

ROWS_KEPT_MAX = 5_000          # about 11 MB of rows and views
Context = TypeVar("Context")


class KeptViews(Generic[Context]):
    """``make(row, context)``, kept: ``context`` must follow from the row (its market's
    listing, its currencies' scales), since only the row is compared."""

    def __init__(self, make: Callable[[Any, Context], dict[str, Any]],
                 size_max: int = ROWS_KEPT_MAX) -> None:
        self.make, self.size_max = make, size_max
        self._kept: OrderedDict[int, tuple[Any, dict[str, Any]]] = OrderedDict()
        self.made = 0                  # views made afresh (for tests)

    def __call__(self, row: Any, context: Context) -> dict[str, Any]:
        kept = self._kept.get(row.id)
        if kept is not None and kept[0] == row:
            try:
                self._kept.move_to_end(row.id)
            except KeyError:           # dropped meanwhile by another thread: no matter
                pass
            return dict(kept[1])
        view = self.make(row, context)
        self.made += 1
        self._kept[row.id] = (row, view)
        self._kept.move_to_end(row.id)     # a changed row is the most recently shown too
        while len(self._kept) > self.size_max:
            try:
                self._kept.popitem(last=False)
            except KeyError:
                break
        return dict(view)
