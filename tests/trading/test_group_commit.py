"""Orders placed as one batch are decided exactly as if placed one after another."""

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from db.schema import orders
from trading.rules import ORDERS_OPEN_PER_USER_MAX
from trading.placing import Placement, place, place_many
from trading.views import view
from ledger.scales import market_scales as _scales
from tests.trading import NOW, assert_consistent, balances, create_market, funded_user


def _world(engine, admin_engine):
    """A market and four users, funded the same way in every world."""
    market = create_market(admin_engine)
    users = {"ann": funded_user(engine, market, base="1", quote="1000"),
             "bob": funded_user(engine, market, base="5", quote="100"),
             "cat": funded_user(engine, market, quote="10000"),
             "dan": funded_user(engine, market, base="3")}
    with engine.begin() as conn:
        place(conn, users["bob"], {"market": market, "side": "sell", "type": "limit",
                                   "quantity": "1", "price": "120.00",
                                   "client_order_id": "sent-before"}, NOW)
        place_many(conn, [Placement(users["cat"], {
            "market": market, "side": "buy", "type": "limit", "quantity": "0.01",
            "price": "100.00"}) for _ in range(ORDERS_OPEN_PER_USER_MAX - 1)], NOW)
    return market, users


def _requests(market: str) -> list[tuple[str, dict]]:
    limit = {"market": market, "type": "limit"}
    return [
        ("ann", {**limit, "side": "buy", "quantity": "6", "price": "100.00"}),   # 601.20
        ("ann", {**limit, "side": "buy", "quantity": "4", "price": "100.00"}),   # > 398.80 left
        ("ann", {**limit, "side": "buy", "quantity": "3", "price": "100.00",
                 "client_order_id": "twice"}),
        ("ann", {**limit, "side": "buy", "quantity": "1", "price": "100.00",
                 "client_order_id": "twice"}),                 # the first "twice" again
        ("ann", {**limit, "side": "sell", "quantity": "1", "price": "130.00"}),
        ("bob", {**limit, "side": "sell", "quantity": "2", "price": "121.00",
                 "client_order_id": "sent-before"}),           # the earlier order
        ("bob", {"market": market, "side": "buy", "type": "market", "quantity": "1"}),
        ("bob", {**limit, "side": "buy", "quantity": "0.1", "price": "100.00"}),  # all held
        ("cat", {**limit, "side": "buy", "quantity": "1", "price": "100.00"}),  # the 200th
        ("cat", {**limit, "side": "buy", "quantity": "1", "price": "100.00"}),  # one too many
        ("dan", {**limit, "side": "sell", "quantity": "3.5", "price": "100.00"}),
        ("dan", {**limit, "side": "sell", "quantity": "1.0001", "price": "100.00"}),
        ("dan", {"market": "NOPE-USD", "side": "sell", "type": "limit", "quantity": "1",
                 "price": "1.00"}),
        ("dan", {**limit, "side": "sell", "quantity": "1", "price": "100.00",
                 "client_order_id": "no spaces"}),
        ("dan", {**limit, "side": "sell", "quantity": "3", "price": "100.00"}),
    ]


def _outcome(order: dict | None, created: bool, error: Exception | None) -> tuple:
    if error is not None:
        return ("refused", getattr(error, "code", type(error).__name__))
    assert order is not None
    return ("new" if created else "earlier", order["status"], order["held"],
            order["client_order_id"])


@pytest.mark.parametrize("own_transaction", [False, True], ids=["callers", "own"])
def test_a_batch_decides_each_order_as_if_it_came_alone_after_the_ones_before(
        engine, admin_engine, own_transaction):
    one_by_one, users_a = _world(engine, admin_engine)
    batched, users_b = _world(engine, admin_engine)

    alone = []
    for who, request in _requests(one_by_one):
        try:
            with engine.begin() as conn:
                order, created = place(conn, users_a[who], request, NOW)
            alone.append(_outcome(order, created, None))
        except Exception as error:  # noqa: BLE001  (each refusal is compared below)
            alone.append(_outcome(None, False, error))

    placements = [Placement(users_b[who], request) for who, request in _requests(batched)]
    if own_transaction:    # as the API's batches: two round trips, BEGIN to COMMIT
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            place_many(conn, placements, NOW, own_transaction=True)
    else:
        with engine.begin() as conn:
            place_many(conn, placements, NOW)
    together = [_outcome(p.order, p.created, p.error) for p in placements]
    # Each new order as the batch answered it is the order as read back.
    with engine.connect() as conn:
        for placement in placements:
            if placement.created:
                row = conn.execute(select(orders).where(
                    orders.c.id == int(placement.order["id"]))).one()
                assert view(row, _scales(conn, row.market)) == placement.order

    assert together == alone
    assert [outcome[:2] for outcome in together] == [
        ("new", "accepted"), ("refused", "insufficient_funds"), ("new", "accepted"),
        ("earlier", "accepted"), ("new", "accepted"), ("earlier", "accepted"),
        ("new", "accepted"), ("refused", "insufficient_funds"), ("new", "accepted"),
        ("refused", "too_many_open_orders"), ("refused", "insufficient_funds"),
        ("refused", "quantity_off_lot"), ("refused", "unknown_market"),
        ("refused", "invalid_order"), ("new", "accepted")]
    # What is held is the same to the unit, and exactly what the accepted orders need.
    base_a, quote_a = one_by_one.split("-")
    base_b, quote_b = batched.split("-")
    for who in users_a:
        a, b = balances(engine, users_a[who]), balances(engine, users_b[who])
        assert (a.get(base_a), a.get(quote_a)) == (b.get(base_b), b.get(quote_b)), who
    ann = balances(engine, users_b["ann"])
    # 6 x 100 and 3 x 100, each plus its 20 bps fee; 1 base for the sell.
    assert ann[quote_b] == (D("1000") - D("601.20") - D("300.60"), D("901.80"))
    assert ann[base_b] == (D("0"), D("1"))
    assert balances(engine, users_b["bob"])[quote_b] == (D("0"), D("100"))
    assert balances(engine, users_b["dan"])[base_b] == (D("0"), D("3"))
    assert_consistent(engine)


def test_a_batch_that_fails_as_a_whole_is_placed_again_one_order_at_a_time(
        engine, admin_engine):
    from trading.batches import OrderBatcher

    market = create_market(admin_engine)
    seller = funded_user(engine, market, base="2")
    announced: list[Placement] = []
    batcher = OrderBatcher(engine, announced.extend, writers=0)
    sell = {"market": market, "side": "sell", "type": "limit", "quantity": "1",
            "price": "100.00"}
    # No such user: the database refuses the whole batch (a foreign key), not Python.
    placements = [Placement(seller, sell), Placement(10**12, sell), Placement(seller, sell)]
    batcher._write(placements)
    batcher._announce(placements)
    assert [p.created for p in placements] == [True, False, True]
    assert placements[1].error is not None and placements[1].order is None
    assert announced == [placements[0], placements[2]]
    assert balances(engine, seller)[market.split("-")[0]] == (D("0"), D("2"))
    assert_consistent(engine)


@pytest.mark.timeout(60)
def test_an_announcement_that_fails_fails_no_caller(engine, admin_engine):
    from trading.batches import OrderBatcher

    market = create_market(admin_engine)
    seller = funded_user(engine, market, base="1")

    def announce(placements: list[Placement]) -> None:
        raise ConnectionError("Redis is down")

    batcher = OrderBatcher(engine, announce, writers=1)
    sell = {"market": market, "side": "sell", "type": "limit", "quantity": "0.5",
            "price": "100.00"}
    for _ in range(2):   # the writer goes on after a failed announcement
        order, created = batcher.place(seller, sell)
        assert created and order["status"] == "accepted" and order["held"] == "0.50000000"
    assert balances(engine, seller)[market.split("-")[0]] == (D("0"), D("1"))
    assert_consistent(engine)
