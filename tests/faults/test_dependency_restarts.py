"""The whole exchange (``bin/run-exchange``) rides through a restart of PostgreSQL or
Redis and through the crash of any process: while a dependency is away requests answer
503 ``service_unavailable`` with ``Retry-After`` (never 500), every process stays up (the
same PIDs: none needed the runner to come back), the scheduler leads again, orders
placed afterwards match with exact balances, and the ledger reconciles."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from decimal import ROUND_UP, Decimal

import pytest
import requests
import websocket

from sqlalchemy import text

from ledger.reconcile import reconcile
from scheduler.leader import SCHEDULER_LOCK_KEY
from tests.api.client import Client
from tests.api.conftest import signed_up
from tests.exchange import Exchange, fresh_var_dir

MARKET = "BTC-USDT"           # a demo market: tick 0.01, lot 0.00001, fees 10 and 20 bps
RECOVERY_SECONDS = 30


@pytest.fixture(scope="module")
def exchange(settings):
    # The demo maker trades in another market than this test's (its bids would take them).
    running = Exchange(fresh_var_dir(settings, "faults"), DEMO_MAKER_MARKETS="ETH-USDT")
    yield running
    assert running.stop() == 0, running.output()[-5000:]


class Watcher:
    """Reads as a bot does, public and private, until stopped; keeps every answer."""

    def __init__(self, url: str, token: str) -> None:
        self.answers: Counter[tuple[int, str | None, str | None]] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(url, token, path))
                         for path in ("/v1/markets", "/v1/balances", f"/v1/markets/{MARKET}/book")]
        for thread in self._threads:
            thread.start()

    def _read(self, url: str, token: str, path: str) -> None:
        client = Client(url, token)
        while not self._stop.is_set():
            try:
                response = client.get(path)
            except requests.RequestException as error:
                self.answers[(0, type(error).__name__, None)] += 1
                continue
            code = response.json()["error"]["code"] if response.status_code >= 400 else None
            self.answers[(response.status_code, code, response.headers.get("Retry-After"))] += 1
            time.sleep(0.05)

    def stop(self) -> Counter:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self.answers


def funded(url: str, **amounts: str) -> Client:
    client = signed_up(url)
    for currency, amount in amounts.items():
        response = client.post("/v1/faucet", {"currency": currency, "amount": amount})
        assert response.status_code == 201, response.text
    return client


def balances(client: Client) -> dict[str, tuple[str, str]]:
    return {b["currency"]: (b["available"], b["held"])
            for b in client.get("/v1/balances").json()["items"]}


def wait_for(check, what: str, timeout: float = RECOVERY_SECONDS):
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except (requests.RequestException, KeyError, ValueError):
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def trade_once(exchange: Exchange, price: str) -> None:
    """A seller's resting order and a buyer's taking one: the fill and its fees exact."""
    seller, buyer = funded(exchange.url, BTC="0.01"), funded(exchange.url, USDT="1000")
    socket = websocket.create_connection(exchange.url.replace("http", "ws", 1) + "/v1/ws",
                                         timeout=10, suppress_origin=True)
    socket.send(json.dumps({"op": "subscribe", "channels": [f"trades:{MARKET}"]}))
    for client, side in ((seller, "sell"), (buyer, "buy")):
        response = client.post("/v1/orders", {"market": MARKET, "side": side, "type": "limit",
                                              "price": price, "quantity": "0.01"})
        assert response.status_code == 202, response.text
        order_id = response.json()["id"]
        if side == "sell":   # resting before the buyer comes, so that the seller makes
            wait_for(lambda: client.get(f"/v1/orders/{order_id}").json()["status"] == "open",
                     "the sell order never rested")
    wait_for(lambda: buyer.get(f"/v1/orders/{order_id}").json()["status"] == "filled",
             "the orders never matched")
    notional = Decimal(price) * Decimal("0.01")
    maker_fee, taker_fee = ((notional * Decimal(rate)).quantize(Decimal("0.000001"), ROUND_UP)
                            for rate in ("0.001", "0.002"))   # in USDT, rounded up
    assert balances(seller) == {"BTC": ("0.00000000", "0.00000000"),
                                "USDT": (f"{notional - maker_fee:.6f}", "0.000000")}
    assert balances(buyer) == {"BTC": ("0.01000000", "0.00000000"),
                               "USDT": (f"{1000 - notional - taker_fee:.6f}", "0.000000")}
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:   # the feed delivers the trade (its listener resubscribed after a restart)
        message = json.loads(socket.recv())
        if message.get("type") == "trades" and any(
                Decimal(t["price"]) == Decimal(price) for t in message["trades"]):
            break
        assert time.monotonic() < deadline, "the trade never reached the WebSocket"
    socket.close()


def assert_only_ok_or_unavailable(answers: Counter) -> None:
    for (status, code, retry_after), count in answers.items():
        if status == 200:
            continue
        assert (status, code) in {(503, "service_unavailable"), (503, "outcome_unknown")}, \
            f"{count} answers {status} {code}: {answers}"
        assert retry_after is not None, answers


def scheduler_leads(exchange: Exchange) -> bool:
    with exchange.engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = :key"),
            {"key": SCHEDULER_LOCK_KEY}).scalar() == 1


def assert_reconciled(exchange: Exchange) -> None:
    assert reconcile(exchange.engine) == []


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgresql_restart_is_ridden_through(exchange, mode):
    before = exchange.pids()
    watcher = Watcher(exchange.url, funded(exchange.url).token)
    time.sleep(1)
    exchange.restart_postgres(mode)
    wait_for(exchange.ready, "the API never became ready again")
    time.sleep(1)
    answers = watcher.stop()
    assert_only_ok_or_unavailable(answers)
    assert answers[(200, None, None)] > 0
    assert exchange.pids() == before, "a process ended: " + exchange.output()[-3000:]
    wait_for(lambda: scheduler_leads(exchange), "the scheduler never led again")
    trade_once(exchange, "100.01")
    assert_reconciled(exchange)


@pytest.mark.parametrize("forget", [False, True], ids=["with-its-data", "empty"])
def test_a_redis_restart_is_ridden_through(exchange, forget):
    before = exchange.pids()
    watcher = Watcher(exchange.url, funded(exchange.url).token)
    time.sleep(1)
    exchange.stop_redis(forget=forget)
    time.sleep(3)
    away = Counter(watcher.answers)
    exchange.start_redis()
    wait_for(exchange.ready, "the API never became ready again")
    time.sleep(1)
    answers = watcher.stop()
    assert_only_ok_or_unavailable(answers)
    assert sum(n for (status, _, _), n in (answers - away).items() if status == 200) > 0
    assert any(status == 503 for status, _, _ in away), away
    assert exchange.pids() == before, "a process ended: " + exchange.output()[-3000:]
    trade_once(exchange, "100.02")
    assert_reconciled(exchange)


@pytest.mark.parametrize("name", ["web-0", "matcher-0", "worker-0", "scheduler-0"])
def test_a_crashed_process_is_started_again_and_the_rest_go_on(exchange, name):
    before = exchange.pids()
    killed = exchange.kill(name)
    wait_for(lambda: exchange.pids().get(name) not in (None, killed),
             f"{name} was not started again")
    after = exchange.pids()
    assert {k: v for k, v in after.items() if k != name} == \
        {k: v for k, v in before.items() if k != name}
    wait_for(exchange.ready, "the API never became ready again")
    trade_once(exchange, "100.03")
    assert_reconciled(exchange)
