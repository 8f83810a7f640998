"""The reads bots poll, against two real ``web`` processes: what each process remembers of
sessions and keys ends within the stated bound, every read is counted against its limits,
and a caller's read always shows its own acknowledged orders' holds."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import requests
from sqlalchemy import text

from api.credential_cache import CREDENTIAL_CACHE_SECONDS
from tests.api.client import Client, SignedClient, error_of
from tests.api.conftest import flush_rate_limits, api_key, signed_up, start_web
from tests.trading import create_market


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """As everywhere, once the counts of the test before have reached Redis."""
    flush_rate_limits(settings, settled=True)

# A request's own time on this shared machine, beyond the bound itself.
REQUEST_SLACK_SECONDS = 0.5


@pytest.fixture(scope="module")
def other_url(tmp_path_factory):
    """A second web process: the one that did not see the log-out or the revocation."""
    web, base_url = start_web(tmp_path_factory.mktemp("other-web"),
                              RATE_LIMIT_PER_IP="100000/minute",
                              RATE_LIMIT_PER_USER="100000/minute")
    yield base_url
    assert web.stop() == 0


@pytest.fixture(scope="module")
def limited_url(tmp_path_factory):
    web, base_url = start_web(tmp_path_factory.mktemp("limited-web"),
                              RATE_LIMIT_PER_IP="40/minute", RATE_LIMIT_PER_USER="10/minute")
    yield base_url
    assert web.stop() == 0


@pytest.fixture
def market(admin_engine):
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)


def _seconds_until_refused(call, code: str, status: int = 401) -> float:
    """Seconds from now until ``call()`` answers ``status`` with ``code`` (each answer
    before it must be a 200)."""
    started = time.monotonic()
    while True:
        response = call()
        if response.status_code != 200:
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
            return time.monotonic() - started
        assert time.monotonic() - started < 10, "never refused"
        time.sleep(0.05)


def test_a_log_out_is_refused_at_once_where_made_and_within_the_bound_elsewhere(
        api_url, other_url):
    alice = signed_up(api_url)
    elsewhere = Client(other_url, alice.token)
    assert elsewhere.get("/v1/balances").json() == {"items": []}   # remembered there
    assert alice.get("/v1/balances").json() == {"items": []}       # and here
    assert alice.delete("/v1/sessions").status_code == 204
    assert error_of(alice.get("/v1/balances")) == (401, "invalid_session", None)
    waited = _seconds_until_refused(lambda: elsewhere.get("/v1/balances"), "invalid_session")
    assert waited <= CREDENTIAL_CACHE_SECONDS + REQUEST_SLACK_SECONDS
    assert error_of(elsewhere.get("/v1/orders?status=open")) == (401, "invalid_session", None)


def test_a_revoked_key_is_refused_at_once_where_revoked_and_within_the_bound_elsewhere(
        api_url, other_url):
    alice = signed_up(api_url)
    bot = api_key(alice, ["read"])
    elsewhere = SignedClient(other_url, bot.key_id, bot.secret)
    assert elsewhere.get("/v1/balances").json() == {"items": []}
    assert bot.get("/v1/balances").json() == {"items": []}
    assert alice.delete(f"/v1/api-keys/{bot.key_id}").status_code == 204
    assert error_of(bot.get("/v1/balances")) == (401, "api_key_revoked", None)
    waited = _seconds_until_refused(lambda: elsewhere.get("/v1/balances"), "api_key_revoked")
    assert waited <= CREDENTIAL_CACHE_SECONDS + REQUEST_SLACK_SECONDS


def test_a_frozen_users_key_and_session_are_refused_within_the_bound_everywhere(
        api_url, other_url, admin_engine):
    alice = signed_up(api_url)
    bot = api_key(alice, ["read"])
    readers = [bot, SignedClient(other_url, bot.key_id, bot.secret)]
    sessions = [alice, Client(other_url, alice.token)]
    for reader in readers + sessions:
        assert reader.get("/v1/balances").json() == {"items": []}
    with admin_engine.begin() as conn:
        conn.execute(text("UPDATE users SET frozen_at = now() WHERE email = :email"),
                     {"email": alice.email})
    started = time.monotonic()
    for reader in readers:
        _seconds_until_refused(lambda: reader.get("/v1/balances"), "account_frozen", 403)
    for reader in sessions:
        _seconds_until_refused(lambda: reader.get("/v1/balances"), "invalid_session")
    assert time.monotonic() - started <= CREDENTIAL_CACHE_SECONDS + REQUEST_SLACK_SECONDS


def test_a_session_remembered_is_still_counted_against_the_callers_limit(limited_url):
    alice = signed_up(limited_url)        # two requests, counted against the address only
    statuses = [alice.get("/v1/balances").status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    refused = alice.get("/v1/balances")
    assert error_of(refused)[:2] == (429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_an_ended_session_refused_from_memory_still_counts_against_the_address(
        limited_url):
    alice = signed_up(limited_url)            # sign-up and log-in: the address's 1 and 2
    assert alice.delete("/v1/sessions").status_code == 204                          # 3
    statuses = [alice.get("/v1/balances").status_code for _ in range(38)]           # 4...
    assert statuses == [401] * 37 + [429]


def test_a_key_remembered_is_counted_once_per_request_on_both_faces(limited_url):
    alice = signed_up(limited_url)
    bot = api_key(alice, ["read"])         # the session's third request, the key's first
    native = [bot.get("/v1/balances").status_code for _ in range(5)]
    binance = [_binance_get(limited_url, bot, "/api/v3/account").status_code
               for _ in range(5)]
    assert native + binance == [200] * 10
    assert error_of(bot.get("/v1/balances"))[:2] == (429, "rate_limited")
    refused = _binance_get(limited_url, bot, "/api/v3/openOrders")
    assert (refused.status_code, refused.json()["code"]) == (429, -1003)


def test_cached_public_data_is_still_counted_against_the_address(limited_url, market):
    statuses = [requests.get(f"{limited_url}/v1/markets/{market}/ticker", timeout=10)
                .status_code for _ in range(41)]
    assert statuses == [200] * 40 + [429]


def test_an_order_just_placed_holds_funds_in_the_next_read_on_every_process(
        api_url, other_url, market):
    base, quote = market.split("-")
    alice = signed_up(api_url)
    assert alice.post("/v1/faucet", {"currency": quote, "amount": "1000"}).status_code == 201
    elsewhere = Client(other_url, alice.token)
    bot = api_key(alice, ["read", "trade"])
    bot_elsewhere = SignedClient(other_url, bot.key_id, bot.secret)
    for reader in (alice, elsewhere, bot, bot_elsewhere):   # remembered everywhere
        assert _held(reader, quote) == ("1000.00", "0.00")
    placed = bot.post("/v1/orders", {"market": market, "side": "buy", "type": "limit",
                                     "quantity": "2", "price": "100.00"})
    assert placed.status_code == 202
    for reader in (alice, elsewhere, bot, bot_elsewhere):   # 200.00 and the 0.20 % fee
        assert _held(reader, quote) == ("799.60", "200.40")
    assert elsewhere.get(f"/v1/orders/{placed.json()['id']}").json()["held"] == "200.40"
    listed = bot_elsewhere.get("/v1/orders?status=accepted").json()["items"]
    assert [(o["id"], o["held"]) for o in listed] == [(placed.json()["id"], "200.40")]

    symbol = market.replace("-", "")
    answer = _binance_post(api_url, bot, "/api/v3/order", f"symbol={symbol}&side=BUY&"
                           "type=LIMIT&timeInForce=GTC&quantity=1&price=50.00&"
                           "newOrderRespType=ACK")
    assert answer.status_code == 200, answer.text
    balances = {b["asset"]: (b["free"], b["locked"]) for b in _binance_get(
        other_url, bot, "/api/v3/account").json()["balances"]}
    assert balances[quote] == ("749.50", "250.50")
    assert balances[base] == ("0", "0")


def test_an_order_read_again_after_its_row_changed_shows_the_change_on_both_faces(
        api_url, other_url, market, admin_engine):
    """Each process keeps the views of the orders it showed (``trading.kept_views``): a
    change of the row (here one the matcher would make: a partial fill) shows at once."""
    base, quote = market.split("-")
    alice = signed_up(api_url)
    assert alice.post("/v1/faucet", {"currency": quote, "amount": "1000"}).status_code == 201
    bot = api_key(alice, ["read", "trade"])
    placed = bot.post("/v1/orders", {"market": market, "side": "buy", "type": "limit",
                                     "quantity": "2", "price": "100.00"})
    assert placed.status_code == 202
    order_id, symbol = placed.json()["id"], market.replace("-", "")

    def shown(base_url: str, status: str) -> list[tuple]:
        reader = Client(base_url, alice.token)
        one = reader.get(f"/v1/orders/{order_id}").json()
        listed = [o for o in reader.get(f"/v1/orders?status={status}").json()["items"]
                  if o["id"] == order_id]
        binance_one = _binance_get(base_url, bot, "/api/v3/order",
                                   f"symbol={symbol}&orderId={order_id}").json()
        binance_open = _binance_get(base_url, bot, "/api/v3/openOrders").json()
        assert isinstance(binance_open, list), binance_open
        return [(one["status"], one["filled_quantity"], one["held"]),
                (listed[0]["status"], listed[0]["filled_quantity"], listed[0]["held"])] + [
            (o["status"], o["executedQty"], o["cummulativeQuoteQty"])
            for o in [binance_one] + [o for o in binance_open if o["orderId"] == int(order_id)]]

    for base_url in (api_url, other_url):     # a new market is listed within 2 s
        deadline = time.monotonic() + 10
        while requests.get(f"{base_url}/api/v3/exchangeInfo?symbol={symbol}",
                           timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the market was never listed"
            time.sleep(0.2)
    for base_url in (api_url, other_url):     # twice: the second is a kept view
        assert shown(base_url, "accepted") == shown(base_url, "accepted")
        assert shown(base_url, "accepted")[0][:2] == ("accepted", "0.00000000")
    columns = "status, filled_quantity, filled_notional, hold_remaining, updated_at"
    with admin_engine.begin() as conn:
        was = conn.execute(text(f"SELECT {columns} FROM orders WHERE id = :id"),
                           {"id": int(order_id)}).one()
        conn.execute(text("""
            UPDATE orders SET status = 'partially_filled', filled_quantity = 0.5,
                   filled_notional = 50.00, hold_remaining = 150.30, updated_at = now()
             WHERE id = :id"""), {"id": int(order_id)})
    try:
        for base_url in (api_url, other_url):
            assert shown(base_url, "partially_filled") == [
                ("partially_filled", "0.50000000", "150.30"),
                ("partially_filled", "0.50000000", "150.30"),
                ("PARTIALLY_FILLED", "0.50000000", "50.0000000000"),
                ("PARTIALLY_FILLED", "0.50000000", "50.0000000000")]
    finally:   # the ledger's hold is the order's again (every test's reconcile checks it)
        with admin_engine.begin() as conn:
            conn.execute(text(f"UPDATE orders SET ({columns}) = (:s, :q, :n, :h, :u) "
                              "WHERE id = :id"), {"s": was[0], "q": was[1], "n": was[2],
                                                 "h": was[3], "u": was[4], "id": int(order_id)})


def _held(client: Client, currency: str) -> tuple[str, str]:
    items = {b["currency"]: (b["available"], b["held"])
             for b in client.get("/v1/balances").json()["items"]}
    return items[currency]


def _signed_query(bot: SignedClient, query: str) -> str:
    query = (query + "&" if query else "") + \
        f"timestamp={int(time.time() * 1000)}&recvWindow=10000"
    signature = hmac.new(bot.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


def _binance_get(base_url: str, bot: SignedClient, path: str, query: str = ""
                 ) -> requests.Response:
    return requests.get(f"{base_url}{path}?{_signed_query(bot, query)}",
                        headers={"X-MBX-APIKEY": bot.key_id}, timeout=10)


def _binance_post(base_url: str, bot: SignedClient, path: str, query: str
                  ) -> requests.Response:
    return requests.post(f"{base_url}{path}?{_signed_query(bot, query)}",
                         headers={"X-MBX-APIKEY": bot.key_id}, timeout=10)
