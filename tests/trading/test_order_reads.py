"""The reads bots poll (``trading.order_reads``), against PostgreSQL: a kept view is the
view a row read afresh would get, and a row changed in any way is shown changed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text

from ledger.scales import scales_of
from trading import order_reads
from trading.kept_views import KeptViews
from trading.views import view
from tests.trading import create_market, funded_user, order_row, place


def test_kept_views_are_the_views_of_the_rows_as_they_are(engine, admin_engine):
    market = create_market(admin_engine)
    user = funded_user(engine, market, quote="1000")
    placed = [place(engine, user, market, side="buy", type="limit", quantity="0.5",
                    price=f"{price}.00") for price in (90, 91)]
    kept = KeptViews(view)

    def scales(row):
        return scales_of(engine, row.market.split("-"))

    def fresh(order_id):
        return view(order_row(engine, order_id), scales(order_row(engine, order_id)))

    newest = order_reads.active_newest_first(user, None, market, None, 10)
    for _ in range(2):          # made, then kept
        shown = order_reads.shown(engine, newest, kept, scales)
        assert shown == [fresh(placed[1]["id"]), fresh(placed[0]["id"])]
        assert [order["held"] for order in shown] == ["45.60", "45.09"]  # with the 0.2% taker fee, up
        assert kept.made == 2
    one = order_reads.one(user, int(placed[0]["id"]))
    assert order_reads.shown(engine, one, kept, scales) == [fresh(placed[0]["id"])]
    assert kept.made == 2
    # The same version from both statements of a read.
    found, = order_reads.versions(engine, one)
    rows = order_reads.shown(engine, one, KeptViews(lambda row, _: {"v": row.version}),
                             scales)
    assert rows == [{"v": found.version}]

    # A change of a time alone, as of an amount, is another version.
    with admin_engine.begin() as conn:
        conn.execute(text("UPDATE orders SET updated_at = updated_at + :later WHERE id = :id"),
                     {"later": timedelta(microseconds=1), "id": int(placed[0]["id"])})
    shown = order_reads.shown(engine, one, kept, scales)
    assert shown == [fresh(placed[0]["id"])]
    assert kept.made == 3
    assert order_reads.versions(engine, one)[0].version != found.version

    # Another user's order, or one in another market, is not found.
    assert order_reads.shown(engine, order_reads.one(user + 1, int(placed[0]["id"])), kept,
                             scales) == []
    assert order_reads.versions(engine, order_reads.one(
        user, int(placed[0]["id"]), market + "X")) == []
    assert Decimal(shown[0]["quantity"]) == Decimal("0.5")
