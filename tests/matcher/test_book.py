"""The pure matching core, request by request."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from matcher.book import Book, Closed, Trade, MarketRules, Order, Rested, Triggered
from money import fee

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
_ids = iter(range(1, 10**9))


def book(fee_bps=20):
    return Book(MarketRules(taker_fee_bps=fee_bps, quote_scale=2, lot_size=D("0.01")))


def order(user, side, quantity, price=None, type="limit", tif="gtc", **extra):
    number = next(_ids)
    return Order(number, user, side, type, tif, None if quantity is None else D(quantity),
                 None if price is None else D(price), sequence=number, **extra)


def fills(events):
    return [(e.maker_order_id, e.taker_order_id, e.price, e.quantity) for e in events
            if isinstance(e, Trade)]


def test_price_then_time_priority_and_trades_at_the_makers_price():
    b = book()
    early, better, late = (order(1, "sell", "1", "101"), order(2, "sell", "1", "100"),
                           order(3, "sell", "1", "101"))
    for o in (early, better, late):
        assert b.submit(o, NOW) == [Rested(o.id)]
    taker = order(9, "buy", "2.5", "102")
    events = b.submit(taker, NOW)
    assert fills(events) == [(better.id, taker.id, D("100"), D("1")),
                             (early.id, taker.id, D("101"), D("1")),
                             (late.id, taker.id, D("101"), D("0.5"))]
    assert events[-2:] == [Trade(late.id, taker.id, 3, 9, "buy", D("101"), D("0.5")),
                           Closed(taker.id, "filled")]
    assert late.quantity == D("0.5") and b.depth("sell") == [(D("101"), D("0.5"))]
    assert b.last_price == D("101")


def test_a_limit_order_rests_after_a_partial_fill():
    b = book()
    maker = order(1, "buy", "1", "99")
    b.submit(maker, NOW)
    taker = order(2, "sell", "3", "98")
    events = b.submit(taker, NOW)
    assert fills(events) == [(maker.id, taker.id, D("99"), D("1"))]
    assert events[-1] == Rested(taker.id)
    assert b.depth("sell") == [(D("98"), D("2"))] and b.depth("buy") == []


def test_self_trade_prevention_cancels_the_newest():
    b = book()
    mine = order(1, "sell", "1", "100")
    b.submit(mine, NOW)
    taker = order(1, "buy", "1", "100")
    assert b.submit(taker, NOW) == [Closed(taker.id, "cancelled", "self_trade_prevented")]
    assert b.depth("sell") == [(D("100"), D("1"))]


def test_post_only_that_would_take_is_rejected_and_rests_otherwise():
    b = book()
    b.submit(order(1, "sell", "1", "100"), NOW)
    taking = order(2, "buy", "1", "100", post_only=True)
    assert b.submit(taking, NOW) == [Closed(taking.id, "rejected", "post_only_would_take")]
    resting = order(2, "buy", "1", "99.99", post_only=True)
    assert b.submit(resting, NOW) == [Rested(resting.id)]


def test_ioc_keeps_what_fills_and_cancels_the_rest():
    b = book()
    maker = order(1, "sell", "1", "100")
    b.submit(maker, NOW)
    taker = order(2, "buy", "5", "100", tif="ioc")
    events = b.submit(taker, NOW)
    assert fills(events) == [(maker.id, taker.id, D("100"), D("1"))]
    assert events[-1] == Closed(taker.id, "cancelled", "no_more_liquidity")
    assert b.depth("buy") == []


def test_fok_fills_whole_or_not_at_all():
    b = book()
    b.submit(order(1, "sell", "1", "100"), NOW)
    b.submit(order(1, "sell", "1", "101"), NOW)
    too_much = order(2, "buy", "2.01", "101", tif="fok")
    assert b.submit(too_much, NOW) == [Closed(too_much.id, "rejected", "fok_not_filled")]
    assert b.depth("sell") == [(D("100"), D("1")), (D("101"), D("1"))]
    whole = order(2, "buy", "2", "101", tif="fok")
    assert fills(b.submit(whole, NOW))[-1][3] == D("1") and b.depth("sell") == []


def test_a_market_order_takes_what_there_is():
    b = book()
    b.submit(order(1, "buy", "1", "100"), NOW)
    b.submit(order(1, "buy", "1", "90"), NOW)
    taker = order(2, "sell", "3", type="market")
    events = b.submit(taker, NOW)
    assert [f[2:] for f in fills(events)] == [(D("100"), D("1")), (D("90"), D("1"))]
    assert events[-1] == Closed(taker.id, "cancelled", "no_more_liquidity")


def test_a_market_buy_spends_no_more_than_its_budget_fee_included():
    b = book(fee_bps=20)
    maker = order(1, "sell", "10", "100")
    b.submit(maker, NOW)
    taker = order(2, "buy", None, type="market", budget=D("250.50"))
    events = b.submit(taker, NOW)
    # 2.5 cost 250 + fee 0.50 = 250.50 exactly; nothing left for another lot.
    assert fills(events) == [(maker.id, taker.id, D("100"), D("2.5"))]
    assert taker.budget == D("0") and events[-1] == Closed(taker.id, "filled")
    assert b.cost(D("100"), D("2.5")) == D("250.50")


def test_fees_round_up_to_the_quote_scale():
    assert fee(D("0.01"), 20, 2) == D("0.01")       # 0.00002 rounds up to a cent
    assert fee(D("100"), 20, 2) == D("0.20")
    assert fee(D("12345.67"), 15, 2) == D("18.52")  # 18.5185 -> 18.52
    assert fee(D("5"), 0, 2) == D("0")


def test_stops_wait_then_trigger_and_cascade():
    b = book()
    b.submit(order(1, "buy", "1", "100"), NOW)
    b.submit(order(1, "buy", "1", "95"), NOW)
    b.submit(order(1, "buy", "1", "90"), NOW)
    stop_a = order(2, "sell", "1", type="stop_market", stop_price=D("99"))
    stop_b = order(3, "sell", "1", type="stop_market", stop_price=D("95"))
    assert b.submit(stop_a, NOW) == [] and b.submit(stop_b, NOW) == []
    first = order(4, "sell", "1", "100")
    events = b.submit(first, NOW)
    # 100 trades -> no trigger (100 > 99)... the next sell at 95 triggers both in turn.
    assert Triggered(stop_a.id) not in events
    second = order(4, "sell", "0.5", "95", type="limit")
    events = b.submit(second, NOW)
    # 95 reaches stop A (99): it sells into 95 and 90, and 90 reaches stop B (95).
    assert [type(e).__name__ for e in events] == [
        "Trade", "Closed", "Triggered", "Trade", "Closed", "Trade", "Closed", "Triggered", "Trade",
        "Closed", "Closed"]
    assert events[2] == Triggered(stop_a.id) and events[7] == Triggered(stop_b.id)
    assert [(f[1], f[2], f[3]) for f in fills(events)] == [
        (second.id, D("95"), D("0.5")), (stop_a.id, D("95"), D("0.5")),
        (stop_a.id, D("90"), D("0.5")), (stop_b.id, D("90"), D("0.5"))]
    assert events[-1] == Closed(stop_b.id, "cancelled", "no_more_liquidity")


def test_an_expired_order_never_trades_and_expires_when_met():
    b = book()
    soon = order(1, "sell", "1", "100", tif="gtd", expire_at=NOW + timedelta(seconds=5))
    b.submit(soon, NOW)
    later = NOW + timedelta(seconds=5)
    taker = order(2, "buy", "1", "100")
    events = b.submit(taker, later)
    assert events == [Closed(soon.id, "expired"), Rested(taker.id)]
    past = order(3, "sell", "1", "100", tif="gtd", expire_at=NOW)
    assert b.submit(past, NOW) == [Closed(past.id, "expired")]


def test_cancel_removes_resting_orders_and_waiting_stops():
    b = book()
    resting = order(1, "sell", "1", "100")
    stop = order(1, "buy", "1", "105", type="stop_limit", stop_price=D("104"))
    b.submit(resting, NOW)
    b.submit(stop, NOW)
    assert b.cancel(resting.id) == [Closed(resting.id, "cancelled")]
    assert b.cancel(stop.id, "expired") == [Closed(stop.id, "expired")]
    assert b.cancel(resting.id) == [] and b.depth("sell") == [] and b.orders == {}


def test_a_fok_buy_by_quote_amount_fills_until_less_than_a_lot_is_left_or_is_killed():
    b = book(fee_bps=20)
    cheap, dear = order(1, "sell", "1", "100"), order(1, "sell", "1", "101")
    b.submit(cheap, NOW)
    b.submit(dear, NOW)
    for budget in ("250.00", "0.50"):  # more than the book sells for (201.41); not one lot
        killed = order(2, "buy", None, type="market", tif="fok", budget=D(budget))
        assert b.submit(killed, NOW) == [Closed(killed.id, "rejected", "fok_not_filled")]
    assert b.depth("sell") == [(D("100"), D("1")), (D("101"), D("1"))]
    whole = order(2, "buy", None, type="market", tif="fok", budget=D("150.00"))
    events = b.submit(whole, NOW)
    # 1 @ 100 costs 100.20, 0.49 @ 101 costs 49.59: the 0.21 left buys no lot at 101.
    assert fills(events) == [(cheap.id, whole.id, D("100"), D("1")),
                             (dear.id, whole.id, D("101"), D("0.49"))]
    assert events[-1] == Closed(whole.id, "filled") and whole.budget == D("0.21")


def test_a_buy_by_quote_amount_that_empties_the_book_with_less_than_a_lot_left_is_filled():
    for tif in ("ioc", "fok"):
        b = book(fee_bps=20)
        maker = order(1, "sell", "1", "100")
        b.submit(maker, NOW)
        taker = order(2, "buy", None, type="market", tif=tif, budget=D("100.30"))
        events = b.submit(taker, NOW)  # 100.20 spent; 0.10 buys no lot (1.01)
        assert fills(events) == [(maker.id, taker.id, D("100"), D("1"))]
        assert events[-1] == Closed(taker.id, "filled")
    b = book(fee_bps=20)
    b.submit(order(1, "sell", "1", "100"), NOW)
    more = order(2, "buy", None, type="market", tif="ioc", budget=D("200.00"))
    assert b.submit(more, NOW)[-1] == Closed(more.id, "cancelled", "no_more_liquidity")


def test_a_fok_sell_fills_whole_or_is_killed():
    b = book()
    b.submit(order(1, "buy", "1", "100"), NOW)
    b.submit(order(1, "buy", "1", "99"), NOW)
    for too_much in (order(2, "sell", "2.01", type="market", tif="fok"),
                     order(2, "sell", "2", "99.50", tif="fok")):
        assert b.submit(too_much, NOW) == [Closed(too_much.id, "rejected", "fok_not_filled")]
    whole = order(2, "sell", "2", type="market", tif="fok")
    events = b.submit(whole, NOW)
    assert [f[2:] for f in fills(events)] == [(D("100"), D("1")), (D("99"), D("1"))]
    assert events[-1] == Closed(whole.id, "filled") and b.depth("buy") == []


def test_a_triggered_fok_stop_market_buy_fills_whole_or_is_killed_within_its_budget():
    def stop(quantity, budget):
        return order(2, "buy", quantity, type="stop_market", tif="fok",
                     stop_price=D("100"), budget=D(budget))

    b = book(fee_bps=20)
    b.submit(order(1, "sell", "1", "100"), NOW)
    b.submit(order(1, "sell", "1", "105"), NOW)
    b.last_price = D("100")
    # 2.01 is more than the book; 2 would cost 205.41, more than the budget of 205.
    for killed in (stop("2.01", "300.00"), stop("2", "205.00")):
        assert b.submit(killed, NOW) == [Triggered(killed.id),
                                         Closed(killed.id, "rejected", "fok_not_filled")]
    whole = stop("2", "205.41")
    events = b.submit(whole, NOW)
    assert [f[2:] for f in fills(events)] == [(D("100"), D("1")), (D("105"), D("1"))]
    assert events[-1] == Closed(whole.id, "filled") and whole.budget == D("0")
