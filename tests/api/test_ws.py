"""The WebSocket feed: snapshots and changes with sequences, private channels, resume,
and the bounds that protect the server."""

import json
import time
from datetime import datetime, timezone

import redis
import websocket

from matcher.feed import checksum
from tests.api.conftest import start_web
from tests.trading import Clock, create_market, funded_user, place, runner
from events.publishing import publish_batch as _publish


def connect(base_url, **options):
    """A bot's socket: no Origin header (browsers always send one; bots need not)."""
    if "origin" not in options:
        options["suppress_origin"] = True
    return websocket.create_connection(base_url.replace("http", "ws", 1) + "/v1/ws",
                                       timeout=10, **options)


def receive(socket, kind, timeout=10):
    """The next message of ``kind``, skipping heartbeats and other kinds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(socket.recv())
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def send(socket, **message):
    socket.send(json.dumps(message))


def apply(book, message):
    sides = {"buy": dict(book["bids"]), "sell": dict(book["asks"])}
    for side, price, quantity in message["changes"]:
        if quantity == "0":
            sides[side].pop(price, None)
        else:
            sides[side][price] = quantity
    from decimal import Decimal
    bids = sorted(sides["buy"].items(), key=lambda level: -Decimal(level[0]))
    asks = sorted(sides["sell"].items(), key=lambda level: Decimal(level[0]))
    return {"bids": bids, "asks": asks, "sequence": message["sequence"]}


def trade_once(engine, settings, market, run=None):
    seller = funded_user(engine, market, base="5")
    buyer = funded_user(engine, market, quote="1000")
    place(engine, seller, market, side="sell", type="limit", quantity="2", price="100.00")
    place(engine, seller, market, side="sell", type="limit", quantity="1", price="101.00")
    place(engine, buyer, market, side="buy", type="limit", quantity="0.5", price="100.00")
    place(engine, buyer, market, side="buy", type="limit", quantity="1", price="99.00")
    run = run or runner(engine, settings, market)
    run.publish = _publish
    run.run_pending()
    return seller, buyer


def test_a_snapshot_then_changes_rebuild_the_book_with_a_matching_checksum(
        api_url, engine, admin_engine, settings, tmp_path):
    market = create_market(admin_engine)
    second_web, second_url = start_web(tmp_path)
    sockets = [connect(url) for url in (api_url, second_url)]
    snapshots = []
    for socket in sockets:
        send(socket, op="subscribe", channels=[f"book:{market}", f"trades:{market}"])
        snapshots.append(receive(socket, "snapshot"))
    assert snapshots[0] == snapshots[1]
    assert (snapshots[0]["bids"], snapshots[0]["asks"], snapshots[0]["sequence"]) == ([], [], 0)
    trade_once(engine, settings, market)
    for socket in sockets:  # every web process serves every subscriber
        change = receive(socket, "book")
        book = apply(snapshots[0], change)
        assert change["prev_sequence"] == 0 and change["sequence"] > 0
        assert book["asks"] == [("100", "1.5"), ("101", "1")]
        assert book["bids"] == [("99", "1")]
        assert checksum(book["bids"], book["asks"]) == change["checksum"]
        trades = receive(socket, "trades")
        assert trades["trades"] == [{"price": "100", "quantity": "0.5", "taker_side": "buy"}]
        socket.close()
    assert second_web.stop() == 0


def test_private_channels_carry_only_the_callers_own_events(api_url, engine, admin_engine,
                                                            settings, alice, bob):
    market = create_market(admin_engine)
    from sqlalchemy import text
    with engine.connect() as conn:
        alice_id = conn.execute(text("SELECT id FROM users WHERE email = :e"),
                                {"e": alice.email}).scalar_one()
    watching, other = connect(api_url), connect(api_url)
    send(watching, op="subscribe", channels=["orders"])
    assert receive(watching, "error")["code"] == "authentication_required"
    send(watching, op="auth", token=alice.token)
    receive(watching, "authenticated")
    send(other, op="auth", token=bob.token)
    receive(other, "authenticated")
    for socket in (watching, other):
        send(socket, op="subscribe", channels=["orders", "fills", "balances"])
    assert receive(watching, "balances")["items"] == []
    from tests.factories import deposit
    with engine.begin() as conn:
        _, quote = market.split("-")
        deposit(conn, alice_id, quote, __import__("decimal").Decimal("500"))
    seller = funded_user(engine, market, base="1")
    place(engine, seller, market, side="sell", type="limit", quantity="1", price="100.00")
    mine = place(engine, alice_id, market, side="buy", type="limit", quantity="1",
                 price="100.00")
    run = runner(engine, settings, market)
    run.publish = _publish
    run.run_pending()
    orders = receive(watching, "orders")
    assert [(o["id"], o["status"]) for o in orders["orders"]] == [(mine["id"], "filled")]
    fills = receive(watching, "fills")
    assert fills["fills"] == [{"order_id": mine["id"], "price": "100", "quantity": "1",
                               "liquidity": "taker"}]
    balances = {b["currency"]: b for b in receive(watching, "balances")["items"]}
    assert balances[quote]["available"] == "399.80"
    send(other, op="ping")
    assert receive(other, "pong") == {"type": "pong"}  # bob got nothing before his pong
    for socket in (watching, other):
        socket.close()


def test_a_client_resumes_from_its_sequence_or_gets_a_fresh_snapshot(api_url, engine,
                                                                    admin_engine, settings):
    market = create_market(admin_engine)
    socket = connect(api_url)
    send(socket, op="subscribe", channels=[f"book:{market}"])
    receive(socket, "snapshot")
    run = runner(engine, settings, market)
    trade_once(engine, settings, market, run)
    first = receive(socket, "book")
    socket.close()
    trade_once(engine, settings, market, run)  # missed while away
    again = connect(api_url)
    send(again, op="resume", channel=f"book:{market}", sequence=first["sequence"])
    receive(again, "resumed")
    missed = receive(again, "book")
    assert missed["prev_sequence"] == first["sequence"]
    send(again, op="resume", channel=f"book:{market}", sequence=1)  # too old: a snapshot
    snapshot = receive(again, "snapshot")
    assert snapshot["sequence"] == missed["sequence"]
    again.close()


def test_a_foreign_origin_an_unknown_channel_and_too_many_channels_are_refused(
        api_url, settings, admin_engine):
    foreign = connect(api_url, origin="https://evil.example")
    assert receive(foreign, "error")["code"] == "origin_not_allowed"
    foreign.close()
    own = connect(api_url, origin=settings.site_origin)
    send(own, op="subscribe", channels=["nonsense"])
    assert receive(own, "error")["code"] == "unknown_channel"
    send(own, op="subscribe", channels=["book:NO-PE"])
    assert receive(own, "error")["code"] == "unknown_market"
    channels: list[str] = []
    for market in (create_market(admin_engine) for _ in range(6)):
        channels += [f"book:{market}", f"trades:{market}", f"ticker:{market}"] + [
            f"candles:{market}:{interval}" for interval in ("1m", "5m", "15m", "1h", "4h", "1d")]
    send(own, op="subscribe", channels=channels)  # 54: past the bound of 50
    assert receive(own, "error")["code"] == "too_many_subscriptions"
    own.send("not json")
    assert receive(own, "error")["code"] == "invalid_message"
    own.close()


def test_a_client_that_does_not_read_is_told_and_disconnected(settings, tmp_path):
    web, base_url = start_web(tmp_path, WS_CLIENT_QUEUE_MAX="5")
    try:
        slow = connect(base_url)
        send(slow, op="subscribe", channels=["trades:SLOW-MARKET"])
        # Unknown market: refused. Subscribe to a real one instead, created here.
        receive(slow, "error")
        from db import engine as engines
        admin = engines.create(settings.database_admin_url, pooled=False)
        market = create_market(admin)
        admin.dispose()
        send(slow, op="subscribe", channels=[f"trades:{market}"])
        receive(slow, "subscribed")
        client = redis.Redis.from_url(settings.redis_url)
        event = json.dumps({"market": market, "time": "now", "book": {
            "sequence": 1, "prev_sequence": 0, "changes": [], "checksum": 0},
            "trades": [{"price": "1", "quantity": "1" * 2000, "taker_side": "buy"}]})
        for _ in range(3000):
            client.publish(f"market:{market}", event)
        last = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                last = json.loads(slow.recv())
            except websocket.WebSocketConnectionClosedException:
                break
            if last.get("type") == "error":
                break
        assert last is not None and last.get("code") == "slow_consumer"
        slow.close()
    finally:
        assert web.stop() == 0


def test_ticker_and_candle_channels_follow_trades_within_a_second(api_url, engine,
                                                                  admin_engine, settings):
    market = create_market(admin_engine)
    socket = connect(api_url)
    send(socket, op="subscribe", channels=[f"ticker:{market}", f"candles:{market}:1m"])
    trade_once(engine, settings, market,
               runner(engine, settings, market, Clock(datetime.now(timezone.utc))))
    ticker = receive(socket, "ticker", timeout=5)
    assert (ticker["last"], ticker["volume"], ticker["trades"]) == ("100.00", "0.50000000", 1)
    candle = receive(socket, "candle", timeout=5)
    assert (candle["open"], candle["close"], candle["volume"], candle["taker_buy_volume"],
            candle["taker_buy_quote_volume"], candle["trades"]) == (
        "100", "100", "0.5", "0.5", "50", 1)
    socket.close()


def test_a_book_built_from_snapshot_and_changes_equals_the_rest_book_after_thousands_of_orders(
        api_url, engine, admin_engine, settings, tmp_path):
    import random

    import requests

    from tests.workers.test_matcher_faults import place_random, traders
    market = create_market(admin_engine)
    second_web, second_url = start_web(tmp_path)
    sockets = [connect(url) for url in (api_url, second_url)]
    books = []
    for socket in sockets:
        send(socket, op="subscribe", channels=[f"book:{market}"])
        snapshot = receive(socket, "snapshot")
        books.append({"bids": snapshot["bids"], "asks": snapshot["asks"],
                      "sequence": snapshot["sequence"]})
    rng = random.Random(12)
    users = traders(engine, market)
    run = runner(engine, settings, market)
    run.publish = _publish
    for _ in range(20):
        place_random(engine, market, users, rng, 100)
        run.run_pending()
    final = requests.get(f"{api_url}/v1/markets/{market}/book?depth=100", timeout=10).json()
    for index, socket in enumerate(sockets):
        while books[index]["sequence"] < final["sequence"]:
            change = receive(socket, "book")
            assert change["prev_sequence"] == books[index]["sequence"]  # no gap, no repeat
            books[index] = apply(books[index], change)
            assert checksum(books[index]["bids"], books[index]["asks"]) == change["checksum"]
        socket.close()

    def plain(levels):
        from decimal import Decimal
        return [(f"{Decimal(p).normalize():f}", f"{Decimal(q).normalize():f}")
                for p, q in levels]

    assert len(final["bids"]) + len(final["asks"]) > 20
    for book in books:
        assert book["bids"] == plain(final["bids"]) and book["asks"] == plain(final["asks"])
    assert second_web.stop() == 0


def test_a_quiet_socket_gets_heartbeats(settings, tmp_path):
    web, base_url = start_web(tmp_path, WS_HEARTBEAT_SECONDS="1")
    try:
        socket = connect(base_url)
        started = time.monotonic()
        assert json.loads(socket.recv()) == {"type": "heartbeat"}
        assert json.loads(socket.recv()) == {"type": "heartbeat"}
        assert time.monotonic() - started < 5
        socket.close()
    finally:
        assert web.stop() == 0


def test_an_order_placed_through_the_api_is_announced_on_the_private_channel(
        api_url, admin_engine, alice):
    market = create_market(admin_engine)
    _, quote = market.split("-")
    assert alice.post("/v1/faucet", {"currency": quote, "amount": "100"}).status_code == 201
    socket = connect(api_url)
    send(socket, op="auth", token=alice.token)
    receive(socket, "authenticated")
    send(socket, op="subscribe", channels=["orders"])
    receive(socket, "subscribed")
    placed = alice.post("/v1/orders", {"market": market, "side": "buy", "type": "limit",
                                       "quantity": "1", "price": "10.00"}).json()
    announced = receive(socket, "orders")
    assert announced["orders"] == [{"id": placed["id"], "status": "accepted",
                                    "filled_quantity": "0", "held": "10.02"}]
    socket.close()
