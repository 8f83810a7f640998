"""Kept views (``trading.kept_views``): a row at the version a view was made from gets
that view, any other version a view made afresh; a read whose rows are all kept at their
versions reads no rows; each caller has its own copy."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime, timezone
from decimal import Decimal

from trading.kept_views import KeptViews
from trading.views import view

Row = namedtuple("Row", [
    "id", "market", "client_order_id", "side", "type", "time_in_force", "price",
    "stop_price", "quantity", "quote_quantity", "post_only", "expire_at", "status",
    "reject_reason", "filled_quantity", "filled_notional", "fee_paid", "hold_currency",
    "hold_remaining", "triggered_at", "created_at", "updated_at", "version"])
Found = namedtuple("Found", ["id", "version"])
SCALES = {"BTC": 8, "USDT": 2}
WHEN = datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=timezone.utc)


def an_order(order_id: int = 1, **changes: object) -> Row:
    row = Row(order_id, "BTC-USDT", None, "buy", "limit", "gtc", Decimal("100.00"), None,
              Decimal("0.50000000"), None, False, None, "open", None, Decimal("0E-8"),
              Decimal("0E-10"), Decimal("0.00"), "USDT", Decimal("50.05"), None, WHEN, WHEN,
              None)._replace(**changes)
    return row._replace(version=repr(row[:-1]))   # differs whenever a column does


def found(row: Row) -> Found:
    return Found(row.id, row.version)


def test_a_row_at_its_kept_version_gets_its_kept_view_and_another_a_new_view() -> None:
    kept = KeptViews(view)
    first = kept.view(an_order(), SCALES)
    assert kept.view(an_order(), SCALES) == first == view(an_order(), SCALES)
    assert kept.made == 1
    filled = an_order(filled_quantity=Decimal("0.20000000"),
                      filled_notional=Decimal("20.0000000000"), status="partially_filled",
                      hold_remaining=Decimal("30.03"))
    shown = kept.view(filled, SCALES)
    assert kept.made == 2
    assert (shown["status"], shown["filled_quantity"], shown["filled_notional"],
            shown["held"]) == ("partially_filled", "0.20000000", "20.0000000000", "30.03")


def test_a_read_whose_rows_are_all_kept_reads_no_rows() -> None:
    kept = KeptViews(view)
    rows = [an_order(1), an_order(2)]
    read = []

    def read_rows() -> list[Row]:
        read.append(1)
        return rows

    assert kept.of([found(row) for row in rows], read_rows, lambda row: SCALES) == \
        [view(row, SCALES) for row in rows]
    assert (len(read), kept.made) == (1, 2)
    assert kept.of([found(row) for row in rows], read_rows, lambda row: SCALES) == \
        [view(row, SCALES) for row in rows]
    assert (len(read), kept.made) == (1, 2)
    # One row at another version: the rows are read, and only that one is made again.
    rows[1] = an_order(2, status="partially_filled")
    shown = kept.of([found(rows[0]), found(rows[1])], read_rows, lambda row: SCALES)
    assert [view["status"] for view in shown] == ["open", "partially_filled"]
    assert (len(read), kept.made) == (2, 3)
    # The rows read are the answer, even if they are not the rows first found (a third
    # placed in between).
    rows.append(an_order(3))
    assert len(kept.of([found(an_order(4))], read_rows, lambda row: SCALES)) == 3


def test_each_caller_gets_its_own_copy_to_add_to() -> None:
    kept = KeptViews(view)
    mine = kept.view(an_order(), SCALES)
    mine["fills"] = []
    mine["status"] = "changed by a caller"
    theirs = kept.view(an_order(), SCALES)
    assert "fills" not in theirs and theirs["status"] == "open"
    listed, = kept.of([found(an_order())], lambda: [], lambda row: SCALES)
    listed["status"] = "changed by another"
    assert kept.view(an_order(), SCALES)["status"] == "open"


def test_at_most_size_max_rows_are_kept_the_least_recently_shown_go_first() -> None:
    kept = KeptViews(view, size_max=2)
    for order_id in (1, 2):
        kept.view(an_order(order_id), SCALES)
    kept.of([found(an_order(1))], lambda: [], lambda row: SCALES)   # now the most recent
    kept.view(an_order(3), SCALES)            # drops 2
    assert kept.made == 3
    kept.view(an_order(1), SCALES)
    assert kept.made == 3
    kept.view(an_order(2), SCALES)
    assert kept.made == 4


def test_a_changed_row_is_the_most_recently_shown() -> None:
    kept = KeptViews(view, size_max=2)
    for order_id in (1, 2):
        kept.view(an_order(order_id), SCALES)
    kept.view(an_order(1, status="partially_filled"), SCALES)    # changed: made again
    kept.view(an_order(3), SCALES)                               # drops 2, not 1
    assert kept.made == 4
    kept.view(an_order(1, status="partially_filled"), SCALES)
    assert kept.made == 4
