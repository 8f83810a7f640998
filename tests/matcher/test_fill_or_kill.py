"""Trade-or-kill through the database and the market runner: whole, or nothing moves.

A market buy by ``quote_quantity`` is whole when what is left of its hold cannot pay
for one more lot at the price where it stops (the next level's, or the last level's
when the book runs out): that remainder is released, not a reason to kill.
"""

from decimal import Decimal as D

import pytest
from sqlalchemy import text

from tests.trading import (
    assert_consistent, balances, create_market, fee_balance, funded_user, order_row, place,
    runner,
)


@pytest.fixture
def market(admin_engine):
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)


def _trades(engine, market):
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM trades WHERE market = :m"),
                            {"m": market}).scalar_one()


@pytest.mark.parametrize("second_level, seller_base", [
    ("5", (D("4"), D("4.25"))),        # the budget ends inside the 20.00 level
    ("0.75", (D("8.25"), D("0"))),     # the book ends, leaving less than a lot's cost
])
def test_a_fill_or_kill_market_buy_by_quote_amount_fills_whole_when_the_book_can_spend_it(
        engine, settings, market, second_level, seller_base):
    base, quote = market.split("-")
    seller = funded_user(engine, market, base="10")
    place(engine, seller, market, side="sell", type="limit", quantity="1", price="10.00")
    place(engine, seller, market, side="sell", type="limit", quantity=second_level,
          price="20.00")
    buyer = funded_user(engine, market, quote="100")
    order = place(engine, buyer, market, side="buy", type="market", quote_quantity="25.01",
                  time_in_force="fok")
    assert order["held"] == "25.07"  # 25.01 + 20 bps (0.05002 rounded up)
    runner(engine, settings, market).run_pending()
    row = order_row(engine, order["id"])
    assert (row.status, row.reject_reason, row.filled_quantity) == ("filled", None, D("1.75"))
    # 1 @ 10.00 and 0.75 @ 20.00: notional 25.00 and taker fee 0.05, 25.05 of the 25.07
    # held; the 0.02 left buys no lot at 20.00 (0.03 with its fee) and is released.
    assert balances(engine, buyer)[quote] == (D("74.95"), D("0"))
    assert balances(engine, buyer)[base] == (D("1.75"), D("0"))
    # The seller (maker, 10 bps): 10.00 - 0.01 and 15.00 - 0.02 (0.025 rounded up, less
    # the 0.01 charged before).
    assert balances(engine, seller)[quote] == (D("24.97"), D("0"))
    assert balances(engine, seller)[base] == seller_base
    assert fee_balance(engine, quote) == D("0.08")
    assert _trades(engine, market) == 2
    assert_consistent(engine)


def test_a_fill_or_kill_market_buy_by_quote_amount_is_killed_when_the_book_cannot_spend_it(
        engine, settings, market):
    base, quote = market.split("-")
    seller = funded_user(engine, market, base="10")
    asks = [place(engine, seller, market, side="sell", type="limit", quantity=quantity,
                  price=price) for quantity, price in (("1", "10.00"), ("0.5", "20.00"))]
    buyer = funded_user(engine, market, quote="100")
    # The book sells for 20.04 with the fee; 30.06 is held and 10.02 of it would be left.
    order = place(engine, buyer, market, side="buy", type="market", quote_quantity="30.00",
                  time_in_force="fok")
    runner(engine, settings, market).run_pending()
    row = order_row(engine, order["id"])
    assert (row.status, row.reject_reason, row.filled_quantity, row.hold_remaining) == (
        "rejected", "fok_not_filled", D("0"), D("0"))
    assert balances(engine, buyer)[quote] == (D("100.00"), D("0"))
    assert base not in balances(engine, buyer)
    assert balances(engine, seller)[base] == (D("8.5"), D("1.5"))
    assert [order_row(engine, ask["id"]).status for ask in asks] == ["open", "open"]
    assert fee_balance(engine, quote) == D("0")
    assert _trades(engine, market) == 0
    assert_consistent(engine)
