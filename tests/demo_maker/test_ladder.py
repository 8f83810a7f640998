"""The maker's pure parts: the ladder on the market's grid, the walk, the budget."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from demo_maker.errors import Stopped
from demo_maker.ladder import BUY, SELL, Quote, Rules, amount_at, grid_step, ladder
from demo_maker.pacing import Pacer, budget_per_second
from demo_maker.walk import RandomWalk

RULES = Rules("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("1"))


def test_the_ladder_has_five_bids_under_five_asks_one_grid_step_apart():
    step = grid_step(Decimal("60000"), RULES)
    assert step == Decimal("60.00")            # 10 bps of the price, on the tick
    quotes = ladder(Decimal("60012.34"), step)
    assert sorted(q.price for q in quotes if q.side == BUY) == [
        Decimal(p) for p in ("59760.00", "59820.00", "59880.00", "59940.00", "60000.00")]
    assert sorted(q.price for q in quotes if q.side == SELL) == [
        Decimal(p) for p in ("60060.00", "60120.00", "60180.00", "60240.00", "60300.00")]


def test_a_move_of_one_step_changes_one_quote_at_each_end():
    step = Decimal("60.00")
    before, after = ladder(Decimal("60000"), step), ladder(Decimal("60061"), step)
    assert before - after == {Quote(SELL, Decimal("60060.00")), Quote(BUY, Decimal("59760.00"))}
    assert after - before == {Quote(BUY, Decimal("60060.00")), Quote(SELL, Decimal("60360.00"))}


def test_amounts_are_whole_lots_and_reach_the_minimum_notional():
    assert amount_at(Decimal("0.0123456"), Decimal("60000"), RULES) == Decimal("0.01234")
    assert amount_at(Decimal("0.000011"), Decimal("60000"), RULES) == Decimal("0.00002")
    assert amount_at(Decimal("0.000001"), Decimal("60000"), RULES) is None
    assert str(amount_at(Decimal("2"), Decimal("60000"), RULES)) == "2.00000"


def test_the_walk_is_on_the_tick_reproducible_and_stays_near_its_start():
    walks = [RandomWalk(Decimal("3000"), Decimal("0.01"), seed=7) for _ in range(2)]
    paths = [[walk.step() for _ in range(5000)] for walk in walks]
    assert paths[0] == paths[1]
    assert all(price == price.quantize(Decimal("0.01")) for price in paths[0])
    assert len(set(paths[0])) > 1000
    assert Decimal("2000") < min(paths[0]) and max(paths[0]) < Decimal("4500")


def test_the_budget_is_half_the_tightest_announced_limit_and_is_kept():
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
               "limit": 1200},
              {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 1,
               "limit": 2400}]
    assert budget_per_second(limits) == 10.0
    pacer = Pacer(100.0, threading.Event())
    started = time.monotonic()
    for _ in range(25):                     # a burst of 5, then 20 at 100 a second
        pacer.take()
    assert 0.18 < time.monotonic() - started < 0.5


def test_a_stop_ends_a_wait_for_the_budget_at_once():
    stop = threading.Event()
    pacer = Pacer(0.01, stop)
    for _ in range(5):
        pacer.take()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stopped):
        pacer.take()
    assert time.monotonic() - started < 1
