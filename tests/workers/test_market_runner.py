"""Orders through the database and the market runner, settled in the ledger to the unit."""

from datetime import timedelta
from decimal import Decimal as D

import pytest

from ledger import InsufficientFunds
from trading.errors import InvalidOrder
from trading.matcher_requests import request_cancel
from scheduler.jobs import expire_due
from tests.trading import (
    NOW, Clock, assert_consistent, balances, create_market, fee_balance, funded_user,
    order_row, place, runner,
)


@pytest.fixture
def market(admin_engine):
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)


def test_a_limit_buy_crossing_a_resting_sell_settles_fees_and_releases_the_rest(
        engine, settings, market):
    base, quote = market.split("-")
    seller = funded_user(engine, market, base="2")
    buyer = funded_user(engine, market, quote="1000")
    sell = place(engine, seller, market, side="sell", type="limit", quantity="1.5",
                 price="100.00")
    assert sell["held"] == "1.50000000"
    buy = place(engine, buyer, market, side="buy", type="limit", quantity="1", price="101.00")
    # The hold: 101 x 1 = 101.00 plus the larger fee (20 bps) 0.202 -> 0.21 = 101.21.
    assert buy["held"] == "101.21" and balances(engine, buyer)[quote] == (D("898.79"),
                                                                            D("101.21"))
    assert runner(engine, settings, market).run_pending() == 2
    # The trade is at the maker's price: 100.00 x 1. Taker fee 0.20, maker fee 0.10.
    assert balances(engine, buyer)[quote] == (D("899.80"), D("0"))
    assert balances(engine, buyer)[base] == (D("1"), D("0"))
    assert balances(engine, seller)[quote] == (D("99.90"), D("0"))
    assert balances(engine, seller)[base] == (D("0.5"), D("0.5"))
    assert fee_balance(engine, quote) == D("0.30")
    assert order_row(engine, buy["id"]).status == "filled"
    sell_row = order_row(engine, sell["id"])
    assert (sell_row.status, sell_row.filled_quantity, sell_row.hold_remaining) == (
        "partially_filled", D("1"), D("0.5"))
    assert_consistent(engine)


def test_cancelling_a_partly_filled_order_releases_exactly_what_it_still_holds(
        engine, settings, market):
    base, quote = market.split("-")
    buyer = funded_user(engine, market, quote="500")
    seller = funded_user(engine, market, base="1")
    buy = place(engine, buyer, market, side="buy", type="limit", quantity="3", price="50.00")
    place(engine, seller, market, side="sell", type="market", quantity="1")
    run = runner(engine, settings, market)
    run.run_pending()
    with engine.begin() as conn:
        request_cancel(conn, buyer, int(buy["id"]))
    run.run_pending()
    row = order_row(engine, buy["id"])
    assert (row.status, row.filled_quantity, row.hold_remaining) == ("cancelled", D("1"), D("0"))
    # Paid 50.00 + maker fee 0.05; everything else is available again.
    assert balances(engine, buyer)[quote] == (D("449.95"), D("0"))
    assert balances(engine, seller)[quote] == (D("49.90"), D("0"))  # taker fee 0.10
    assert_consistent(engine)


def test_market_buys_by_quote_amount_and_by_quantity_spend_no_more_than_held(
        engine, settings, market):
    base, quote = market.split("-")
    seller = funded_user(engine, market, base="10")
    place(engine, seller, market, side="sell", type="limit", quantity="1", price="10.00")
    place(engine, seller, market, side="sell", type="limit", quantity="5", price="20.00")
    by_quote = funded_user(engine, market, quote="100")
    order = place(engine, by_quote, market, side="buy", type="market", quote_quantity="30.00")
    assert order["held"] == "30.06"  # 30.00 + 20 bps
    by_quantity = funded_user(engine, market, quote="1000")
    second = place(engine, by_quantity, market, side="buy", type="market", quantity="2")
    assert second["held"] == "1000.00"  # the whole available balance, released after
    runner(engine, settings, market).run_pending()
    # by quote: 1 @ 10.00 (cost 10.02), then 1 @ 20.00 (cost 20.04): exactly the 30.06 held.
    assert balances(engine, by_quote)[base] == (D("2"), D("0"))
    assert balances(engine, by_quote)[quote] == (D("69.94"), D("0"))
    assert order_row(engine, order["id"]).status == "filled"
    # by quantity: 2 @ 20.00 = 40.00 + 0.08.
    assert balances(engine, by_quantity)[base] == (D("2"), D("0"))
    assert balances(engine, by_quantity)[quote] == (D("959.92"), D("0"))
    assert_consistent(engine)


def test_ioc_fok_post_only_and_self_trade_prevention_end_with_the_right_status(
        engine, settings, market):
    base, quote = market.split("-")
    maker = funded_user(engine, market, base="2", quote="1000")
    taker = funded_user(engine, market, quote="1000")
    place(engine, maker, market, side="sell", type="limit", quantity="1", price="100.00")
    ioc = place(engine, taker, market, side="buy", type="limit", quantity="2", price="100.00",
                time_in_force="ioc")
    run = runner(engine, settings, market)
    run.run_pending()
    assert (order_row(engine, ioc["id"]).status, order_row(engine, ioc["id"]).filled_quantity) \
        == ("cancelled", D("1"))
    place(engine, maker, market, side="sell", type="limit", quantity="1", price="100.00")
    fok = place(engine, taker, market, side="buy", type="limit", quantity="2", price="100.00",
                time_in_force="fok")
    post_only = place(engine, taker, market, side="buy", type="limit", quantity="1",
                      price="100.00", post_only=True)
    own = place(engine, maker, market, side="buy", type="limit", quantity="1", price="100.00")
    run.run_pending()
    assert (order_row(engine, fok["id"]).status, order_row(engine, fok["id"]).reject_reason) == (
        "rejected", "fok_not_filled")
    assert order_row(engine, post_only["id"]).reject_reason == "post_only_would_take"
    assert (order_row(engine, own["id"]).status, order_row(engine, own["id"]).reject_reason) == (
        "cancelled", "self_trade_prevented")
    assert balances(engine, taker)[quote] == (D("899.80"), D("0"))
    assert_consistent(engine)


def test_stop_orders_trigger_and_cascade_in_sequence(engine, settings, market):
    base, quote = market.split("-")
    bids = funded_user(engine, market, quote="10000")
    for price in ("100.00", "95.00", "90.00", "85.00"):
        place(engine, bids, market, side="buy", type="limit", quantity="1", price=price)
    stopper = funded_user(engine, market, base="2")
    first = place(engine, stopper, market, side="sell", type="stop_market", quantity="1",
                  stop_price="99.00")
    second = place(engine, stopper, market, side="sell", type="stop_limit", quantity="1",
                   stop_price="95.00", price="85.00")
    assert first["status"] == "untriggered"
    seller = funded_user(engine, market, base="2")
    place(engine, seller, market, side="sell", type="limit", quantity="2", price="95.00")
    run = runner(engine, settings, market)
    run.run_pending()
    # The sell trades at 100 and 95; 95 reaches the first stop (99), which sells at 90;
    # 90 reaches the second (95), which sells at 85.
    assert order_row(engine, first["id"]).status == "filled"
    assert order_row(engine, second["id"]).status == "filled"
    assert order_row(engine, second["id"]).triggered_at is not None
    assert balances(engine, stopper)[quote] == (D("174.65"), D("0"))  # taker fees 0.18, 0.17
    assert balances(engine, stopper)[base] == (D("0"), D("0"))
    assert_consistent(engine)


def test_a_runner_that_rebuilds_its_book_applies_a_new_stop_once(engine, settings, market):
    """A new runner rebuilds its book from the orders whose requests were processed
    before its first batch: a stop whose request that batch claims enters the book once,
    from its request, even when it triggers at once."""
    base, quote = market.split("-")
    bids = funded_user(engine, market, quote="10000")
    for price in ("100.00", "95.00", "90.00"):
        place(engine, bids, market, side="buy", type="limit", quantity="1", price=price)
    seller = funded_user(engine, market, base="2")
    place(engine, seller, market, side="sell", type="limit", quantity="1", price="100.00")
    runner(engine, settings, market).run_pending()          # the last price is now 100
    place(engine, seller, market, side="sell", type="limit", quantity="1", price="95.00")
    stopper = funded_user(engine, market, base="1")
    stop = place(engine, stopper, market, side="sell", type="stop_market", quantity="1",
                 stop_price="99.00")
    runner(engine, settings, market).run_pending()          # a new runner: book rebuilt
    # The sell at 95 reaches the stop, which sells once, at 90.
    assert order_row(engine, stop["id"]).status == "filled"
    assert order_row(engine, stop["id"]).filled_quantity == D("1")
    assert balances(engine, stopper)[quote] == (D("89.82"), D("0"))  # taker fee 0.18
    assert balances(engine, stopper)[base] == (D("0"), D("0"))
    assert_consistent(engine)


def test_a_gtd_order_expires_at_its_time_by_the_clock_not_by_sleeping(engine, settings, market):
    base, quote = market.split("-")
    user = funded_user(engine, market, quote="100")
    expire_at = NOW + timedelta(minutes=10)
    order = place(engine, user, market, side="buy", type="limit", quantity="1", price="50.00",
                  time_in_force="gtd", expire_at=expire_at.isoformat())
    clock = Clock(NOW)
    run = runner(engine, settings, market, clock)
    run.run_pending()
    woken = []
    assert expire_due(engine, expire_at - timedelta(seconds=1), woken.append) == 0
    assert order_row(engine, order["id"]).status == "open"
    assert expire_due(engine, expire_at, woken.append) == 1
    assert expire_due(engine, expire_at, woken.append) == 0  # queued once
    assert woken == [market]
    clock.now = expire_at
    run.run_pending()
    assert order_row(engine, order["id"]).status == "expired"
    assert balances(engine, user)[quote] == (D("100.00"), D("0"))
    assert_consistent(engine)


@pytest.mark.parametrize("order, code, field", [
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.001"}, "invalid_amount",
     "price"),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.05", }, None, None),
    ({"side": "buy", "type": "limit", "quantity": "0.0015", "price": "10.00"},
     "quantity_off_lot", "quantity"),
    ({"side": "buy", "type": "limit", "quantity": "0.001", "price": "10.00"},
     "below_min_notional", "quantity"),
    ({"side": "buy", "type": "limit", "quantity": "1"}, "invalid_order", "price"),
    ({"side": "buy", "type": "market", "quantity": "1", "price": "10.00"}, "invalid_order",
     "price"),
    ({"side": "sell", "type": "market", "quote_quantity": "10.00"}, "invalid_order",
     "quote_quantity"),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.00",
      "time_in_force": "gtd"}, "invalid_order", "expire_at"),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.00",
      "time_in_force": "gtd", "expire_at": "2026-11-24T11:00:00+00:00"},
     "expire_at_in_past", "expire_at"),
    ({"side": "buy", "type": "market", "quantity": "1", "post_only": True}, "invalid_order",
     "post_only"),
])
def test_bad_orders_are_refused_with_their_rule_and_hold_nothing(engine, market, order, code,
                                                                 field):
    from ledger import AmountError
    user = funded_user(engine, market, quote="1000")
    _, quote = market.split("-")
    if code is None:
        place(engine, user, market, **order)
        return
    with pytest.raises((InvalidOrder, AmountError)) as refused:
        place(engine, user, market, **order)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert balances(engine, user)[quote] == (D("1000.00"), D("0"))


def test_an_order_beyond_the_balance_is_refused_and_holds_nothing(engine, market):
    _, quote = market.split("-")
    user = funded_user(engine, market, quote="10")
    with pytest.raises(InsufficientFunds):
        place(engine, user, market, side="buy", type="limit", quantity="1", price="10.00")
    assert balances(engine, user)[quote] == (D("10.00"), D("0"))


def test_a_client_order_id_retry_returns_the_same_order(engine, market):
    user = funded_user(engine, market, quote="100")
    first = place(engine, user, market, side="buy", type="limit", quantity="1", price="10.00",
                  client_order_id="abc-1")
    again = place(engine, user, market, side="buy", type="limit", quantity="1", price="10.00",
                  client_order_id="abc-1")
    assert again["id"] == first["id"]
    _, quote = market.split("-")
    assert balances(engine, user)[quote] == (D("89.98"), D("10.02"))  # 10.00 + 20 bps


def test_many_small_fills_round_once_per_order_and_book_every_remainder(engine, settings,
                                                                       admin_engine):
    market = create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20, lot="0.001",
                           min_notional="0.01")
    base, quote = market.split("-")
    buyer = funded_user(engine, market, quote="100")
    buy = place(engine, buyer, market, side="buy", type="limit", quantity="0.9",
                price="10.01")
    assert buy["held"] == "9.03"  # 9.009 -> 9.01, fee 0.018018 -> 0.02
    sellers = [funded_user(engine, market, base="1") for _ in range(9)]
    for seller in sellers:
        place(engine, seller, market, side="sell", type="limit", quantity="0.1", price="10.01")
    runner(engine, settings, market).run_pending()
    # Nine fills of 1.001 each. The buyer (maker, 10 bps) pays the order's notional 9.009
    # rounded up once (9.01) and its fee 0.009009 rounded up once (0.01).
    assert balances(engine, buyer)[quote] == (D("90.98"), D("0"))
    assert balances(engine, buyer)[base] == (D("0.9"), D("0"))
    # Each seller (taker, 20 bps) receives 1.001 rounded down (1.00) less 0.002002 rounded
    # up (0.01): 0.99.
    assert {balances(engine, s)[quote] for s in sellers} == {(D("0.99"), D("0"))}
    # The fee account: 0.01 (buyer) + 9 x 0.01 (sellers) + 9.01 - 9 x 1.00 (remainder).
    assert fee_balance(engine, quote) == D("0.11")
    assert order_row(engine, buy["id"]).status == "filled"
    assert_consistent(engine)
