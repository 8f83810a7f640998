"""The core against a simple reference model, and replayed against itself."""

import random
from datetime import datetime, timezone
from decimal import Decimal as D

from matcher.book import Book, Closed, Trade, MarketRules, Order

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
ORDERS = 4000


def stream(seed: int):
    """Limit orders (gtc and ioc) from a few users around a price, with cancels mixed in."""
    rng = random.Random(seed)
    requests, live = [], []
    for number in range(1, ORDERS + 1):
        if live and rng.random() < 0.15:
            requests.append(("cancel", live.pop(rng.randrange(len(live)))))
            continue
        side = rng.choice(["buy", "sell"])
        price = D(rng.randint(95, 105))
        quantity = D(rng.randint(1, 50)) / 10
        tif = "ioc" if rng.random() < 0.1 else "gtc"
        requests.append(("order", (number, rng.randint(1, 6), side, price, quantity, tif)))
        live.append(number)
    return requests


def run_core(requests):
    book = Book(MarketRules(taker_fee_bps=0, quote_scale=2, lot_size=D("0.1")))
    trades = []
    for kind, data in requests:
        if kind == "cancel":
            events = book.cancel(data)
        else:
            number, user, side, price, quantity, tif = data
            events = book.submit(Order(number, user, side, "limit", tif, quantity, price,
                                       sequence=number), NOW)
        trades += [(e.maker_order_id, e.taker_order_id, e.price, e.quantity) for e in events
                   if isinstance(e, Trade)]
    final = sorted((o.id, o.quantity) for o in book.orders.values())
    return trades, final


def run_model(requests):
    """The obvious algorithm: scan every resting order, best price then oldest first."""
    resting: dict[int, list] = {}  # id -> [user, side, price, quantity, sequence]
    trades = []
    for kind, data in requests:
        if kind == "cancel":
            resting.pop(data, None)
            continue
        number, user, side, price, quantity, tif = data
        while quantity > 0:
            candidates = [(o[2] if side == "buy" else -o[2], o[4], oid) for oid, o in
                          resting.items() if o[1] != side and
                          (o[2] <= price if side == "buy" else o[2] >= price)]
            if not candidates:
                break
            _, _, maker_id = min(candidates)
            maker = resting[maker_id]
            if maker[0] == user:
                quantity = D(0)  # self-trade prevention: the newest is cancelled
                break
            traded = min(quantity, maker[3])
            trades.append((maker_id, number, maker[2], traded))
            quantity -= traded
            maker[3] -= traded
            if maker[3] == 0:
                del resting[maker_id]
        if quantity > 0 and tif == "gtc":
            resting[number] = [user, side, price, quantity, number]
    return trades, sorted((oid, o[3]) for oid, o in resting.items())


def test_a_random_stream_gives_the_reference_models_trades_and_book():
    for seed in (1, 2, 3):
        requests = stream(seed)
        core_trades, core_book = run_core(requests)
        model_trades, model_book = run_model(requests)
        assert len(core_trades) > 500
        assert core_trades == model_trades
        assert core_book == model_book


def test_replaying_the_same_requests_gives_the_same_trades():
    requests = stream(7)
    assert run_core(requests) == run_core(requests)


def test_rebuilding_a_book_from_its_resting_orders_continues_identically():
    requests = stream(11)
    half = len(requests) // 2
    rules = MarketRules(taker_fee_bps=0, quote_scale=2, lot_size=D("0.1"))
    whole = run_core(requests)
    first = Book(rules)
    trades = []
    for kind, data in requests[:half]:
        events = first.cancel(data) if kind == "cancel" else first.submit(
            Order(data[0], data[1], data[2], "limit", data[5], data[4], data[3],
                  sequence=data[0]), NOW)
        trades += [(e.maker_order_id, e.taker_order_id, e.price, e.quantity) for e in events
                   if isinstance(e, Trade)]
    rebuilt = Book(rules)
    for resting in sorted(first.orders.values(), key=lambda o: o.sequence):
        rebuilt.restore(Order(resting.id, resting.user_id, resting.side, "limit", "gtc",
                              resting.quantity, resting.price, sequence=resting.sequence))
    for kind, data in requests[half:]:
        events = rebuilt.cancel(data) if kind == "cancel" else rebuilt.submit(
            Order(data[0], data[1], data[2], "limit", data[5], data[4], data[3],
                  sequence=data[0]), NOW)
        trades += [(e.maker_order_id, e.taker_order_id, e.price, e.quantity) for e in events
                   if isinstance(e, Trade)]
        assert not any(isinstance(e, Closed) and e.status == "rejected" for e in events)
    assert trades == whole[0]
