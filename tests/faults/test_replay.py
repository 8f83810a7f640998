"""The campaign's replay of a market (``bench.faults.checker.replay``) matches each batch
at the time the matcher matched it at, which its requests record as ``processed_at``.

Found by the campaign (seed 7, a stalled PostgreSQL link): the batch matched at the
runner's clock, read after its claim, while ``processed_at`` was the database's time at
the batch's start, seconds before under the stall. A GTD maker whose expiry fell between
the two traded in the batch and was expired in the replay."""

from datetime import timedelta
from decimal import Decimal as D

from sqlalchemy import text

from bench.faults.checker import recorded_trades, replay
from tests.trading import (NOW, Clock, assert_consistent, balances, create_market, funded_user,
                           place, runner)


def test_a_batch_records_the_time_it_matched_at_and_its_replay_trades_the_same(
        engine, admin_engine, settings):
    market = create_market(admin_engine)
    base, quote = market.split("-")
    maker = funded_user(engine, market, base="2")
    taker = funded_user(engine, market, quote="1000")
    expire_at = NOW + timedelta(minutes=10)   # long past by the database's own clock
    rested = place(engine, maker, market, side="sell", type="limit", quantity="2",
                   price="100.00", time_in_force="gtd", expire_at=expire_at.isoformat())
    clock = Clock(NOW)
    run = runner(engine, settings, market, clock)
    run.run_pending()
    clock.now = expire_at - timedelta(seconds=1)     # the maker is live when the taker comes
    taken = place(engine, taker, market, side="buy", type="limit", quantity="1",
                  price="100.00")
    run.run_pending()

    with engine.connect() as conn:
        stamps = conn.execute(text("SELECT order_id, processed_at FROM matcher_requests "
                                   "WHERE market = :m ORDER BY sequence"), {"m": market}).all()
        assert [tuple(s) for s in stamps] == [(int(rested["id"]), NOW),
                                              (int(taken["id"]), clock.now)]
        assert recorded_trades(conn, market) == [
            (int(rested["id"]), int(taken["id"]), D("100.00"), D("1"))]
        assert replay(conn, market) == recorded_trades(conn, market)
    assert balances(engine, maker)[base] == (D("0"), D("1"))
    assert balances(engine, taker)[base] == (D("1"), D("0"))
    assert_consistent(engine)
