"""Time priority is the order in which the matcher put orders in the book, and a book
rebuilt from the database after a restart is the book that was running."""

import json
import time
from decimal import Decimal as D

import pytest
import redis
from sqlalchemy import text

from trading import placing
from matcher.errors import StaleBook
from workers.matching.runner import MarketRunner
from tests.processes import Process
from tests.trading import (
    NOW, Clock, assert_consistent, balances, create_market, fee_balance, funded_user,
    order_row, place,
)


@pytest.fixture
def market(admin_engine):
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)


class Feed:
    """What runners publish of the market's book, in order, across restarts."""

    def __init__(self) -> None:
        self.books: list[dict] = []

    def __call__(self, market: str, changes: dict) -> None:
        self.books.append(changes["book"])

    def assert_chained(self) -> None:
        """Each message follows the one before, and the sequence only grows."""
        for before, after in zip(self.books, self.books[1:]):
            assert after["prev_sequence"] == before["sequence"] < after["sequence"], (
                before, after)


def _runner(engine, settings, market, feed):
    return MarketRunner(engine, settings.database_url, market, clock=Clock(), publish=feed)


def _book_sequence(engine, market):
    with engine.connect() as conn:
        return conn.execute(text("SELECT book_sequence FROM market_state WHERE market = :m"),
                            {"m": market}).scalar_one()


def _buy_one_at_100_after_a_restart(engine, settings, market, feed, running):
    """``running`` ends (its lock freed as when its process dies), a new runner rebuilds
    the book from the database, and a buy fills one of the two sells at 100.00; the
    buyer's id."""
    running.resign()
    buyer = funded_user(engine, market, quote="200")
    place(engine, buyer, market, side="buy", type="limit", quantity="1", price="100.00")
    assert _runner(engine, settings, market, feed).run_pending() == 1
    return buyer


def test_equal_price_orders_committed_out_of_sequence_keep_their_priority_after_a_restart(
        engine, settings, market):
    base, quote = market.split("-")
    early, late = (funded_user(engine, market, base="1") for _ in range(2))
    feed = Feed()
    run = _runner(engine, settings, market, feed)
    with engine.connect() as conn:
        transaction = conn.begin()
        # The first sell takes its sequence number, and commits only after the second
        # (with the next number) has been committed and put in the book.
        slow, _ = placing.place(conn, early, {"market": market, "side": "sell",
                                            "type": "limit", "quantity": "1",
                                            "price": "100.00"}, NOW)
        fast = place(engine, late, market, side="sell", type="limit", quantity="1",
                     price="100.00")
        assert run.run_pending() == 1
        first_sequence = _book_sequence(engine, market)
        transaction.commit()
    assert run.run_pending() == 1
    assert _book_sequence(engine, market) > first_sequence
    assert order_row(engine, slow["id"]).sequence < order_row(engine, fast["id"]).sequence
    buyer = _buy_one_at_100_after_a_restart(engine, settings, market, feed, run)
    # The running book had the second sell first: it fills, after the restart too.
    assert order_row(engine, fast["id"]).status == "filled"
    assert (order_row(engine, slow["id"]).status, order_row(engine, slow["id"]).filled_quantity
            ) == ("open", D("0"))
    assert balances(engine, late)[quote] == (D("99.90"), D("0"))   # maker fee 0.10
    assert balances(engine, late)[base] == (D("0"), D("0"))
    assert balances(engine, early)[base] == (D("0"), D("1"))
    assert quote not in balances(engine, early)
    assert balances(engine, buyer)[quote] == (D("99.80"), D("0"))  # taker fee 0.20
    assert balances(engine, buyer)[base] == (D("1"), D("0"))
    assert fee_balance(engine, quote) == D("0.30")
    assert len(feed.books) == 3
    feed.assert_chained()
    assert feed.books[-1]["sequence"] == _book_sequence(engine, market)
    assert_consistent(engine)


def test_a_triggered_stop_queues_behind_orders_already_in_the_book_after_a_restart(
        engine, settings, market):
    base, quote = market.split("-")
    trader = funded_user(engine, market, base="2", quote="1000")
    place(engine, trader, market, side="buy", type="limit", quantity="1", price="98.00")
    place(engine, trader, market, side="sell", type="limit", quantity="1", price="100.00")
    first = funded_user(engine, market, quote="200")
    place(engine, first, market, side="buy", type="limit", quantity="1", price="100.00")
    feed = Feed()
    run = _runner(engine, settings, market, feed)
    run.run_pending()                                        # the last price is 100.00
    stopper, resting = (funded_user(engine, market, base="1") for _ in range(2))
    # Placed first (the lower sequence), the stop enters the book only when it triggers,
    # after the plain sell at the same price.
    stop = place(engine, stopper, market, side="sell", type="stop_limit", quantity="1",
                 stop_price="99.00", price="100.00")
    plain = place(engine, resting, market, side="sell", type="limit", quantity="1",
                  price="100.00")
    run.run_pending()
    hitter = funded_user(engine, market, base="1")
    place(engine, hitter, market, side="sell", type="market", quantity="1")  # trades at 98
    run.run_pending()
    assert order_row(engine, stop["id"]).status == "open"
    assert order_row(engine, stop["id"]).triggered_at is not None
    _buy_one_at_100_after_a_restart(engine, settings, market, feed, run)
    assert order_row(engine, plain["id"]).status == "filled"
    assert (order_row(engine, stop["id"]).status, order_row(engine, stop["id"]).filled_quantity
            ) == ("open", D("0"))
    assert balances(engine, resting)[quote] == (D("99.90"), D("0"))
    assert balances(engine, stopper)[base] == (D("0"), D("1"))
    feed.assert_chained()
    assert_consistent(engine)


def _a_stale_runner(engine, settings, market):
    """A runner that believes it leads, with a book built before another runner put a
    sell at 100.00 in the market's; a buy that meets it is pending. (stale runner, the
    sell's and the buyer's ids)"""
    first, second = (_runner(engine, settings, market, Feed()) for _ in range(2))
    second.lead = lambda: True  # as if the lock were lost: both believe they lead
    assert second.run_pending() == 0                      # its book is built, empty
    seller = funded_user(engine, market, base="1")
    sell = place(engine, seller, market, side="sell", type="limit", quantity="1",
                 price="100.00")
    assert first.run_pending() == 1                       # the sell rests in the book
    first.resign()
    buyer = funded_user(engine, market, quote="200")
    buy = place(engine, buyer, market, side="buy", type="limit", quantity="1", price="100.00")
    return second, sell, buy, seller, buyer


def _assert_the_buy_met_the_sell(engine, market, sell, buy, seller, buyer):
    base, quote = market.split("-")
    assert (order_row(engine, buy["id"]).status, order_row(engine, sell["id"]).status) == (
        "filled", "filled")
    assert balances(engine, buyer)[quote] == (D("99.80"), D("0"))
    assert balances(engine, buyer)[base] == (D("1"), D("0"))
    assert balances(engine, seller)[quote] == (D("99.90"), D("0"))
    assert_consistent(engine)


def test_a_runner_whose_book_another_runner_has_moved_on_writes_nothing_and_rebuilds(
        engine, settings, market):
    _, quote = market.split("-")
    stale, sell, buy, seller, buyer = _a_stale_runner(engine, settings, market)
    before = _book_sequence(engine, market)
    with pytest.raises(StaleBook):
        stale.run_pending()  # its book has no sell: the buy would rest instead of trading
    assert order_row(engine, buy["id"]).status == "accepted"
    assert _book_sequence(engine, market) == before
    assert balances(engine, buyer)[quote] == (D("99.80"), D("100.20"))
    assert stale.run_pending() == 1                       # rebuilt: the buy meets the sell
    _assert_the_buy_met_the_sell(engine, market, sell, buy, seller, buyer)


def test_the_matcher_worker_runs_a_stale_runners_batch_again_on_a_rebuilt_book(
        engine, settings, market):
    from workers.matching.actor import _run_with_retries
    stale, sell, buy, seller, buyer = _a_stale_runner(engine, settings, market)
    assert _run_with_retries(stale) == 1
    _assert_the_buy_met_the_sell(engine, market, sell, buy, seller, buyer)


def _wait_for_status(engine, market, order_id, status, timeout=60):
    from events.publishing import wake
    deadline = time.monotonic() + timeout
    while order_row(engine, order_id).status != status:
        assert time.monotonic() < deadline, f"order {order_id} never became {status}"
        wake(market)
        time.sleep(0.1)


def test_a_killed_matcher_process_started_again_fills_the_order_its_book_had_first(
        engine, settings, market, tmp_path):
    base, quote = market.split("-")
    early, late = (funded_user(engine, market, base="1") for _ in range(2))
    listener = redis.Redis.from_url(settings.redis_url).pubsub()
    listener.subscribe(f"market:{market}")
    matcher = Process("matcher", tmp_path)
    matcher.wait_for_output("ready for action")
    with engine.connect() as conn:
        transaction = conn.begin()
        slow, _ = placing.place(conn, early, {"market": market, "side": "sell",
                                            "type": "limit", "quantity": "1",
                                            "price": "100.00"}, NOW)
        fast = place(engine, late, market, side="sell", type="limit", quantity="1",
                     price="100.00")
        _wait_for_status(engine, market, fast["id"], "open")
        transaction.commit()
    _wait_for_status(engine, market, slow["id"], "open")
    matcher.kill()
    matcher = Process("matcher", tmp_path)
    matcher.wait_for_output("ready for action")
    buyer = funded_user(engine, market, quote="200")
    buy = place(engine, buyer, market, side="buy", type="limit", quantity="1", price="100.00")
    _wait_for_status(engine, market, buy["id"], "filled")
    assert matcher.stop() == 0
    assert order_row(engine, fast["id"]).status == "filled"
    assert order_row(engine, slow["id"]).status == "open"
    assert balances(engine, late)[quote] == (D("99.90"), D("0"))
    assert balances(engine, early)[base] == (D("0"), D("1"))
    assert balances(engine, buyer)[quote] == (D("99.80"), D("0"))
    assert balances(engine, buyer)[base] == (D("1"), D("0"))
    feed = Feed()
    while (message := listener.get_message(timeout=1)) is not None:
        if message["type"] == "message":
            feed.books.append(json.loads(message["data"])["book"])
    listener.close()
    assert len(feed.books) == 3  # one batch each: the two sells, then the buy after the kill
    feed.assert_chained()
    assert feed.books[-1]["sequence"] == _book_sequence(engine, market)
    assert_consistent(engine)
