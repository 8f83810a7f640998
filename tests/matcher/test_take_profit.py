"""Take-profit orders in the pure core: they wait like stops and trigger the other way (a
sell once the last price rises to its stop price, a buy once it falls to it), and every
waiting order a trade reaches triggers in sequence order, stops and take-profits alike."""

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from matcher.book import Book, Closed, MarketRules, Order, Trade, Triggered
from matcher.order_types import triggers_rising

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
_ids = iter(range(1, 10**9))


def book(last_price="100"):
    b = Book(MarketRules(taker_fee_bps=20, quote_scale=2, lot_size=D("0.01")))
    b.last_price = D(last_price)
    return b


def order(user, side, quantity, price=None, type="limit", **extra):
    number = next(_ids)
    return Order(number, user, side, type, "gtc", D(quantity),
                 None if price is None else D(price), sequence=number, **extra)


def trade_at(b, price, quantity="0.1"):
    """A trade between two users of their own at ``price``: it moves the last price."""
    maker = order(90, "sell", quantity, price)
    b.submit(maker, NOW)
    taker = order(91, "buy", quantity, price)
    return maker, taker, b.submit(taker, NOW)


def fills(events):
    return [(e.taker_order_id, e.price, e.quantity) for e in events if isinstance(e, Trade)]


@pytest.mark.parametrize("kind, side, rising", [
    ("stop_market", "buy", True), ("stop_limit", "sell", False),
    ("take_profit_market", "sell", True), ("take_profit_limit", "buy", False),
])
def test_a_take_profit_triggers_the_other_way_from_a_stop(kind, side, rising):
    assert triggers_rising(kind, side) is rising


def test_a_take_profit_sell_waits_below_its_stop_and_triggers_at_it():
    b = book()
    bid = order(1, "buy", "1", "99")
    b.submit(bid, NOW)
    take_profit = order(2, "sell", "1", type="take_profit_market", stop_price=D("105"))
    assert b.submit(take_profit, NOW) == []
    _, _, events = trade_at(b, "104.99")
    assert Triggered(take_profit.id) not in events and take_profit.id in b.stops
    maker, taker, events = trade_at(b, "105")
    assert events == [
        Trade(maker.id, taker.id, 90, 91, "buy", D("105"), D("0.1")), Closed(maker.id, "filled"),
        Closed(taker.id, "filled"), Triggered(take_profit.id),
        Trade(bid.id, take_profit.id, 1, 2, "sell", D("99"), D("1")), Closed(bid.id, "filled"),
        Closed(take_profit.id, "filled")]
    assert b.stops == {} and b.orders == {} and b.last_price == D("99")


def test_a_take_profit_market_buy_waits_above_its_stop_triggers_at_it_within_its_budget():
    b = book()
    cheap, dear = order(1, "sell", "0.5", "96"), order(1, "sell", "1", "120")
    b.submit(cheap, NOW)
    b.submit(dear, NOW)
    # As placed through the API: 1 x 95 x 1.05 = 99.75, plus the fee 0.20.
    take_profit = order(2, "buy", "1", type="take_profit_market", stop_price=D("95"),
                        budget=D("99.95"))
    assert b.submit(take_profit, NOW) == []
    for price in ("95.01", "95"):  # each a bid of one user taken by another's sell
        bid = order(3, "buy", "0.1", price)
        b.submit(bid, NOW)
        events = b.submit(order(4, "sell", "0.1", price), NOW)
        assert (Triggered(take_profit.id) in events) is (price == "95")
    # 0.5 at 96 costs 48.10; the 51.85 left pays for 0.43 at 120 (51.71), not 0.44.
    assert fills(events)[1:] == [(take_profit.id, D("96"), D("0.5")),
                                 (take_profit.id, D("120"), D("0.43"))]
    assert events[-1] == Closed(take_profit.id, "cancelled", "budget_exhausted")
    assert take_profit.budget == D("0.14") and dear.quantity == D("0.57")


@pytest.mark.parametrize("first", ["take_profit", "stop"])
def test_orders_a_trade_reaches_trigger_in_sequence_even_if_one_moves_the_price_back(first):
    b = book()
    for price in ("99", "98"):
        b.submit(order(1, "buy", "1", price), NOW)
    for price in ("102", "103", "104"):
        b.submit(order(1, "sell", "1", price), NOW)
    never = order(6, "buy", "1", type="stop_market", stop_price=D("110"), budget=D("500"))
    take_profit_sell = order(2, "sell", "1", type="take_profit_market", stop_price=D("102"))
    stop_buy = order(3, "buy", "1", type="stop_market", stop_price=D("101"), budget=D("500"))
    if first == "stop":
        take_profit_sell.sequence, stop_buy.sequence = stop_buy.sequence, take_profit_sell.sequence
    stop_sell = order(4, "sell", "1", type="stop_market", stop_price=D("99"))
    take_profit_buy = order(5, "buy", "1", type="take_profit_market", stop_price=D("98"),
                            budget=D("500"))
    for waiting in (never, take_profit_sell, stop_buy, stop_sell, take_profit_buy):
        assert b.submit(waiting, NOW) == []
    taker = order(9, "buy", "1", "102")
    events = b.submit(taker, NOW)
    # 102 reaches the take-profit sell (102) and the stop buy (101). The take-profit,
    # when first, sells at 99: the stop buy, reached already, still triggers (buys at 103);
    # 99 reached the stop sell (99), which sells at 98, reaching the take-profit buy (98).
    triggered = [e.order_id for e in events if isinstance(e, Triggered)]
    pair = [take_profit_sell.id, stop_buy.id]
    assert triggered == (pair if first == "take_profit" else pair[::-1]) + [
        stop_sell.id, take_profit_buy.id]
    prices = {take_profit_sell.id: D("99"), stop_buy.id: D("103"), stop_sell.id: D("98"),
              take_profit_buy.id: D("104")}
    assert fills(events) == [(taker.id, D("102"), D("1"))] + [
        (i, prices[i], D("1")) for i in triggered]
    assert list(b.stops) == [never.id] and b.last_price == D("104")
