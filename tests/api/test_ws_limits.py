"""A WebSocket client's messages are bounded per second, a flood ends in a disconnect, and
book snapshots come from the book the process follows, never a query per subscribe."""

import json
import re
import select
import time

import pytest
import redis
import requests
import websocket

from matcher.feed import checksum
from tests.api.conftest import flush_rate_limits, start_web
from tests.api.test_ws import connect, receive, send
from tests.api.test_ws_access import messages_until_closed
from tests.trading import create_market, runner
from events.publishing import publish_batch as _publish


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """As everywhere, once the counts of the test before have reached Redis."""
    flush_rate_limits(settings, settled=True)


FLOOD_MESSAGES = 300
MESSAGES_PER_SECOND_DEFAULT = 10
MESSAGE_BURST_DEFAULT = 20


def snapshot_sources(base_url):
    """How many book snapshots this web process served from memory and by a query."""
    text = requests.get(base_url + "/metrics", timeout=10).text
    found = dict(re.findall(r'^exchange_ws_book_snapshots_total\{source="(\w+)"\} (\S+)$',
                            text, re.MULTILINE))
    return {source: int(float(found.get(source, 0))) for source in ("memory", "query")}


def flood_until_ended(socket, market):
    """Subscribe messages as fast as they go, reading between them, until the server's
    refusal arrives; then every message until the close. A client that went on writing
    after the server closed could lose the last message to a reset connection."""
    received = []
    for _ in range(FLOOD_MESSAGES):
        if any(m.get("code") == "too_many_messages" for m in received):
            break
        try:
            send(socket, op="subscribe", channels=[f"book:{market}"])
        except (BrokenPipeError, ConnectionResetError,
                websocket.WebSocketConnectionClosedException):
            break
        while select.select([socket.sock], [], [], 0)[0]:
            try:
                raw = socket.recv()
            except websocket.WebSocketConnectionClosedException:
                raw = ""
            if raw == "":   # the close frame, or the connection cut
                socket.shutdown()
                return received
            received.append(json.loads(raw))
    received += messages_until_closed(socket, time.monotonic() + 20)
    return received


def test_a_flood_of_subscribe_messages_is_refused_then_disconnected_with_one_snapshot_query(
        admin_engine, tmp_path):
    web, base_url = start_web(tmp_path)
    try:
        market = create_market(admin_engine)
        socket = connect(base_url)
        started = time.monotonic()
        past_the_burst = MESSAGE_BURST_DEFAULT + 5
        for _ in range(past_the_burst):
            send(socket, op="subscribe", channels=[f"book:{market}"])
        answers = []
        while len(answers) < past_the_burst:  # a snapshot or a refusal for each
            message = json.loads(socket.recv())
            if message["type"] in ("snapshot", "error"):
                answers.append(message)
        snapshots = [a for a in answers if a["type"] == "snapshot"]
        refusals = [a["code"] for a in answers if a["type"] == "error"]
        assert len(snapshots) <= MESSAGE_BURST_DEFAULT + 1 and len(refusals) >= 4
        assert set(refusals) == {"rate_limited"}
        assert all(s == snapshots[0] for s in snapshots)

        rest = flood_until_ended(socket, market)   # sustained: the socket is ended
        elapsed = time.monotonic() - started
        assert rest[-1]["type"] == "error" and rest[-1]["code"] == "too_many_messages"
        served = snapshot_sources(base_url)
        assert served["query"] == 1
        assert served["query"] + served["memory"] <= \
            MESSAGE_BURST_DEFAULT + MESSAGES_PER_SECOND_DEFAULT * elapsed
    finally:
        assert web.stop() == 0


def test_many_sockets_subscribing_at_once_share_one_snapshot_query(admin_engine, tmp_path):
    web, base_url = start_web(tmp_path)
    try:
        market = create_market(admin_engine)
        sockets = [connect(base_url) for _ in range(30)]
        for socket in sockets:
            send(socket, op="subscribe", channels=[f"book:{market}", f"trades:{market}"])
        snapshots = [receive(socket, "snapshot") for socket in sockets]
        assert all(s == snapshots[0] for s in snapshots)
        assert snapshot_sources(base_url) == {"query": 1, "memory": 29}
        for socket in sockets:
            socket.close()
    finally:
        assert web.stop() == 0


def test_a_client_within_the_message_rate_is_never_refused(api_url):
    socket = connect(api_url)
    for _ in range(3 * MESSAGES_PER_SECOND_DEFAULT):
        send(socket, op="ping")
        assert json.loads(socket.recv()) == {"type": "pong"}
        time.sleep(1.2 / MESSAGES_PER_SECOND_DEFAULT)
    socket.close()


def test_a_snapshot_from_the_followed_book_equals_the_database_and_a_gap_makes_it_query_again(
        engine, admin_engine, settings, tmp_path):
    import random

    from tests.workers.test_matcher_faults import place_random, traders
    web, base_url = start_web(tmp_path)
    try:
        market = create_market(admin_engine)
        follower = connect(base_url)
        send(follower, op="subscribe", channels=[f"book:{market}"])
        receive(follower, "snapshot")
        rng, users = random.Random(7), traders(engine, market)
        run = runner(engine, settings, market)
        run.publish = _publish
        for _ in range(5):
            place_random(engine, market, users, rng, 100)
            run.run_pending()
        rest = requests.get(f"{base_url}/v1/markets/{market}/book?depth=100", timeout=10).json()
        while receive(follower, "book")["sequence"] < rest["sequence"]:
            pass  # the process has applied every change once its follower has seen them
        late = connect(base_url)
        send(late, op="subscribe", channels=[f"book:{market}"])
        snapshot = receive(late, "snapshot")
        assert snapshot_sources(base_url) == {"query": 1, "memory": 1}
        assert snapshot["sequence"] == rest["sequence"]
        assert (snapshot["bids"], snapshot["asks"]) == (plain(rest["bids"]), plain(rest["asks"]))
        assert len(snapshot["bids"]) + len(snapshot["asks"]) > 20
        assert snapshot["checksum"] == checksum(snapshot["bids"], snapshot["asks"])

        # A message that does not follow the last one: the process stops trusting its copy.
        redis.Redis.from_url(settings.redis_url).publish(f"market:{market}", json.dumps({
            "market": market, "time": "now", "trades": [], "book": {
                "sequence": rest["sequence"] + 10, "prev_sequence": rest["sequence"] + 9,
                "changes": [], "checksum": snapshot["checksum"]}}))
        receive(follower, "book")
        again = connect(base_url)
        send(again, op="subscribe", channels=[f"book:{market}"])
        fresh = receive(again, "snapshot")
        assert snapshot_sources(base_url) == {"query": 2, "memory": 1}
        assert (fresh["bids"], fresh["asks"], fresh["sequence"]) == (
            snapshot["bids"], snapshot["asks"], rest["sequence"])
        for socket in (follower, late, again):
            socket.close()
    finally:
        assert web.stop() == 0


def plain(levels):
    from decimal import Decimal
    return [[f"{Decimal(p).normalize():f}", f"{Decimal(q).normalize():f}"] for p, q in levels]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_budget_accepts_a_burst_then_its_rate_and_ends_a_client_that_keeps_sending():
    from api.ws_limits import ACCEPTED, EXHAUSTED, REFUSALS_MAX, REFUSED, MessageBudget
    clock = Clock()
    budget = MessageBudget(10, 20, clock)
    assert [budget.take() for _ in range(20)] == [ACCEPTED] * 20
    assert budget.take() == REFUSED
    assert budget.retry_after_seconds() == 0.1
    clock.now += 0.5  # five messages' worth, and half a refusal forgiven
    assert [budget.take() for _ in range(6)] == [ACCEPTED] * 5 + [REFUSED]
    clock.now += 10   # a pause: the burst is back and the refusals forgotten
    assert [budget.take() for _ in range(20)] == [ACCEPTED] * 20
    assert [budget.take() for _ in range(REFUSALS_MAX + 1)] == \
        [REFUSED] * REFUSALS_MAX + [EXHAUSTED]


def test_auth_messages_count_against_the_addresss_request_limit_whatever_the_sockets(tmp_path):
    """Each auth is a lookup, as a request is: many sockets do not multiply the limit."""
    web, base_url = start_web(tmp_path, RATE_LIMIT_PER_IP="20/minute")
    try:
        sockets = [connect(base_url) for _ in range(5)]  # five requests of the twenty
        answers = []
        for _ in range(5):
            for socket in sockets:
                send(socket, op="auth", token="not-a-session")
                answers.append(receive(socket, "error")["code"])
        assert set(answers) == {"invalid_session", "rate_limited"}
        assert answers.count("invalid_session") <= 15
        for socket in sockets:
            socket.close()
    finally:
        assert web.stop() == 0


def test_resuming_counts_against_the_subscriptions_bound(api_url, admin_engine, settings):
    socket = connect(api_url)
    channels: list[str] = []
    for market in (create_market(admin_engine) for _ in range(6)):
        channels += [f"book:{market}", f"trades:{market}", f"ticker:{market}"] + [
            f"candles:{market}:{interval}" for interval in ("1m", "5m", "15m", "1h", "4h", "1d")]
    send(socket, op="subscribe", channels=channels[:50])
    for _ in range(50):
        receive(socket, "subscribed")
    other = create_market(admin_engine)
    watcher = connect(api_url)  # sees the message once the process has it buffered
    send(watcher, op="subscribe", channels=[f"book:{other}"])
    receive(watcher, "snapshot")
    redis.Redis.from_url(settings.redis_url).publish(f"market:{other}", json.dumps({
        "market": other, "time": "now", "trades": [], "book": {
            "sequence": 1, "prev_sequence": 0, "changes": [], "checksum": 0}}))
    receive(watcher, "book")
    for resumed in (f"book:{other}", f"book:{create_market(admin_engine)}"):  # buffered, not
        send(socket, op="resume", channel=resumed, sequence=0)
        assert receive(socket, "error")["code"] == "too_many_subscriptions"
    socket.close()
    watcher.close()
