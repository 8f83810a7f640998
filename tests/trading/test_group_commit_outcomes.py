"""Order entry when the connection breaks: every order placed exactly once, whatever the
moment, and a caller whose order's fate the database never told hears 503, not a second
order. The order writers talk to the real PostgreSQL through a real TCP proxy that cuts
the connection at the chosen point (tests/pgproxy.py)."""

from decimal import Decimal as D

import pytest
from sqlalchemy import text

from trading.batches import OrderBatcher
from db import engine as engines
from db.errors import CommitOutcomeUnknown
from trading.placing import Placement
from trading.views import view
from ledger.scales import market_scales as _scales
from tests.trading import assert_consistent, balances, create_market, funded_user


def writes_orders(transaction: str) -> bool:
    return "EXECUTE placing_insert_orders" in transaction


def locks_users(transaction: str) -> bool:
    return "EXECUTE placing_lock_users" in transaction


@pytest.fixture
def proxied(settings, proxy):
    """The order writers' engine, as the web process makes it, through the proxy."""
    engine = engines.create(proxy.url(settings.database_url), pool_size=4, key_lookups=True,
                            autocommit=True)
    yield engine
    engine.dispose()


def orders_of(engine, user: int) -> list:
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM orders WHERE user_id = :u ORDER BY id"),
                            {"u": user}).all()


def holds_of(engine, order_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM transfers WHERE kind = 'order_hold' "
                                 "AND reference = :r"), {"r": f"order:{order_id}"}).scalar_one()


def requests_of(engine, order_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM matcher_requests WHERE order_id = :o"),
                            {"o": order_id}).scalar_one()


def assert_answered_with_its_one_order(engine, placement: Placement) -> None:
    """The caller's answer is its order as read back, the order's only hold and request."""
    assert placement.error is None and placement.created, placement.error
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM orders WHERE id = :i"),
                           {"i": int(placement.order["id"])}).one()
        assert view(row, _scales(conn, row.market)) == placement.order
    assert holds_of(engine, row.id) == 1 and requests_of(engine, row.id) == 1


def sell(market: str, **extra: str) -> dict:
    return {"market": market, "side": "sell", "type": "limit", "quantity": "1",
            "price": "100.00", **extra}


def buy(market: str, **extra: str) -> dict:
    return {"market": market, "side": "buy", "type": "limit", "quantity": "2",
            "price": "100.00", **extra}


def test_a_batch_still_takes_two_round_trips(engine, admin_engine, proxy, proxied):
    market = create_market(admin_engine)
    seller = funded_user(engine, market, base="5")
    buyer = funded_user(engine, market, quote="1000")
    batcher = OrderBatcher(proxied, lambda placements: None, writers=0)
    for _ in range(2):    # statements prepared; held accounts created, then cached
        batcher._write([Placement(seller, sell(market)), Placement(buyer, buy(market))])
    proxy.queries.clear()

    placements = [Placement(seller, sell(market)), Placement(buyer, buy(market)),
                  Placement(seller, sell(market, client_order_id="new-one"))]
    batcher._write(placements)

    assert all(p.created for p in placements)
    assert len(proxy.queries) == 2 and locks_users(proxy.queries[0]) and \
        writes_orders(proxy.queries[1]) and proxy.queries[1].rstrip().endswith("COMMIT")


def test_a_batch_whose_commit_answer_is_lost_places_each_order_once_and_answers_each_caller(
        engine, admin_engine, proxy, proxied):
    market = create_market(admin_engine)
    base, quote = market.split("-")
    seller = funded_user(engine, market, base="5")
    buyer = funded_user(engine, market, quote="1000")
    announced: list[Placement] = []
    batcher = OrderBatcher(proxied, announced.extend, writers=0)
    placements = [Placement(seller, sell(market)), Placement(buyer, buy(market)),
                  Placement(seller, sell(market, client_order_id="with-an-id"))]
    cut = proxy.cut_after_answer(writes_orders)   # committed; the answer never arrives

    batcher._write(placements)
    batcher._announce(placements)

    assert cut.done.is_set()
    for placement in placements:
        assert_answered_with_its_one_order(engine, placement)
    assert len(orders_of(engine, seller)) == 2 and len(orders_of(engine, buyer)) == 1
    assert announced == placements
    assert balances(engine, seller)[base] == (D("3"), D("2"))
    assert balances(engine, buyer)[quote] == (D("1000") - D("200.40"), D("200.40"))
    assert_consistent(engine)


def test_a_batch_whose_commit_never_reached_the_server_is_placed_once_on_retry(
        engine, admin_engine, proxy, proxied):
    market = create_market(admin_engine)
    base, quote = market.split("-")
    seller = funded_user(engine, market, base="5")
    buyer = funded_user(engine, market, quote="1000")
    batcher = OrderBatcher(proxied, lambda placements: None, writers=0)
    placements = [Placement(seller, sell(market)), Placement(buyer, buy(market))]
    cut = proxy.cut_before(writes_orders)        # the client cannot tell this from the above

    batcher._write(placements)

    assert cut.done.is_set()
    for placement in placements:
        assert_answered_with_its_one_order(engine, placement)
    assert len(orders_of(engine, seller)) == 1 and len(orders_of(engine, buyer)) == 1
    assert balances(engine, seller)[base] == (D("4"), D("1"))
    assert balances(engine, buyer)[quote] == (D("1000") - D("200.40"), D("200.40"))
    assert_consistent(engine)


@pytest.mark.timeout(60)
def test_an_order_whose_connection_breaks_before_the_commit_is_placed_once_on_retry(
        engine, admin_engine, proxy, proxied):
    market = create_market(admin_engine)
    base = market.split("-")[0]
    seller = funded_user(engine, market, base="5")
    batcher = OrderBatcher(proxied, lambda placements: None, writers=1)
    cut = proxy.cut_before(locks_users)          # the first round trip: nothing written

    order, created = batcher.place(seller, sell(market))

    assert cut.done.is_set() and created
    (row,) = orders_of(engine, seller)
    assert order["id"] == str(row.id) and holds_of(engine, row.id) == 1
    assert balances(engine, seller)[base] == (D("4"), D("1"))
    assert_consistent(engine)


@pytest.mark.timeout(60)
def test_an_order_whose_outcome_stays_unknown_is_refused_as_unknown_and_its_retry_finds_it(
        engine, admin_engine, proxy, proxied):
    market = create_market(admin_engine)
    base = market.split("-")[0]
    seller = funded_user(engine, market, base="5")
    batcher = OrderBatcher(proxied, lambda placements: None, writers=1)
    request = sell(market, client_order_id="sent-once")
    cut = proxy.cut_after_answer(writes_orders, then_down=True)  # committed, then unreachable

    with pytest.raises(CommitOutcomeUnknown):
        batcher.place(seller, request)

    assert cut.done.is_set()
    (row,) = orders_of(engine, seller)         # it did commit, once
    proxy.up()
    order, created = batcher.place(seller, request)   # the caller sends it again
    assert not created and order["id"] == str(row.id)
    assert orders_of(engine, seller) == [row] and holds_of(engine, row.id) == 1
    assert balances(engine, seller)[base] == (D("4"), D("1"))
    assert_consistent(engine)


def test_each_order_of_a_batch_whose_database_stays_away_hears_outcome_unknown_and_none_doubles(
        engine, admin_engine, proxy, proxied):
    market = create_market(admin_engine)
    base, quote = market.split("-")
    seller = funded_user(engine, market, base="5")
    buyer = funded_user(engine, market, quote="1000")
    batcher = OrderBatcher(proxied, lambda placements: None, writers=0)
    placements = [Placement(seller, sell(market, client_order_id="first")),
                  Placement(buyer, buy(market, client_order_id="second")),
                  Placement(seller, sell(market))]
    cut = proxy.cut_after_answer(writes_orders, then_down=True)

    batcher._write(placements)

    assert cut.done.is_set()
    assert [type(p.error) for p in placements] == [CommitOutcomeUnknown] * 3
    assert [p.order for p in placements] == [None] * 3
    proxy.up()
    again = [Placement(p.user_id, p.request) for p in placements[:2]]   # the callers retry
    batcher._write(again)
    assert [(p.created, p.error) for p in again] == [(False, None)] * 2
    committed = {row.client_order_id: row for row in
                 orders_of(engine, seller) + orders_of(engine, buyer)}
    assert len(orders_of(engine, seller)) == 2 and len(orders_of(engine, buyer)) == 1
    assert len(committed) == 3       # each order once: "first", "second" and the one without
    assert [p.order["id"] for p in again] == [str(committed[k].id) for k in ("first", "second")]
    assert all(holds_of(engine, row.id) == 1
               for row in orders_of(engine, seller) + orders_of(engine, buyer))
    assert balances(engine, seller)[base] == (D("3"), D("2"))
    assert balances(engine, buyer)[quote] == (D("1000") - D("200.40"), D("200.40"))
    assert_consistent(engine)
