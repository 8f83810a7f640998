"""Kept views (``trading.kept_views``): a row equal to the one a view was made from gets
that view; any change of any column makes it afresh; each caller has its own copy."""

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
    "hold_remaining", "triggered_at", "created_at", "updated_at"])
SCALES = {"BTC": 8, "USDT": 2}
WHEN = datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=timezone.utc)


def an_order(order_id: int = 1, **changes: object) -> Row:
    row = Row(order_id, "BTC-USDT", None, "buy", "limit", "gtc", Decimal("100.00"), None,
              Decimal("0.50000000"), None, False, None, "open", None, Decimal("0E-8"),
              Decimal("0E-10"), Decimal("0.00"), "USDT", Decimal("50.05"), None, WHEN, WHEN)
    return row._replace(**changes)


def test_an_unchanged_row_gets_its_kept_view_and_a_changed_one_a_new_view() -> None:
    kept = KeptViews(view)
    first = kept(an_order(), SCALES)
    assert kept(an_order(), SCALES) == first == view(an_order(), SCALES)
    assert kept.made == 1
    filled = an_order(filled_quantity=Decimal("0.20000000"),
                      filled_notional=Decimal("20.0000000000"), status="partially_filled",
                      hold_remaining=Decimal("30.03"))
    shown = kept(filled, SCALES)
    assert kept.made == 2
    assert (shown["status"], shown["filled_quantity"], shown["filled_notional"],
            shown["held"]) == ("partially_filled", "0.20000000", "20.0000000000", "30.03")
    # Every column counts, a time as much as an amount.
    later = filled._replace(updated_at=WHEN.replace(microsecond=0))
    assert kept(later, SCALES)["updated_at"] == "2026-12-04T01:02:03+00:00"
    assert kept.made == 3


def test_each_caller_gets_its_own_copy_to_add_to() -> None:
    kept = KeptViews(view)
    mine = kept(an_order(), SCALES)
    mine["fills"] = []
    mine["status"] = "changed by a caller"
    theirs = kept(an_order(), SCALES)
    assert "fills" not in theirs and theirs["status"] == "open"


def test_at_most_size_max_rows_are_kept_the_least_recently_shown_go_first() -> None:
    kept = KeptViews(view, size_max=2)
    for order_id in (1, 2):
        kept(an_order(order_id), SCALES)
    kept(an_order(1), SCALES)            # shown again: now the most recent
    kept(an_order(3), SCALES)            # drops 2
    assert kept.made == 3
    kept(an_order(1), SCALES)
    assert kept.made == 3
    kept(an_order(2), SCALES)
    assert kept.made == 4


def test_a_changed_row_is_the_most_recently_shown() -> None:
    kept = KeptViews(view, size_max=2)
    for order_id in (1, 2):
        kept(an_order(order_id), SCALES)
    kept(an_order(1, status="partially_filled"), SCALES)    # changed: made again
    kept(an_order(3), SCALES)                               # drops 2, not 1
    assert kept.made == 4
    kept(an_order(1, status="partially_filled"), SCALES)
    assert kept.made == 4
