"""Binance's SIGNED scheme over our keys: the bytes signed, the window, one use only."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

import pytest
import requests

from api.binance.params import parse, signed_payload
from tests.api.binance.conftest import new_trader

DOCS_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("query, body, expected", [
    ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
     "&timestamp=1499827319559", b"",
     "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"),
    ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
     b"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
     "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"),
])
def test_binance_docs_vectors_sign_the_raw_query_then_the_raw_body(query, body, expected):
    signed = f"&signature={expected}"
    payload, signature = signed_payload(query + (signed if not body else ""),
                                        body + (signed.encode() if body else b""))
    assert signature == expected and sign(DOCS_SECRET, payload) == expected
    assert parse(query, body).values["price"] == "0.1"


def test_a_parameter_sent_twice_is_refused_before_anything_else(stack):
    answer = requests.get(stack + "/api/v3/depth?symbol=A", data="symbol=B", timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400 and answer.json()["code"] == -1101


def _signed(url: str, trader, method: str, path: str, params: dict, *, in_body: bool = False,
            secret: str | None = None, timestamp: int | None = None) -> requests.Response:
    params = {**params, "timestamp": timestamp or int(time.time() * 1000)}
    text = urlencode(params)
    text += "&signature=" + sign(secret or trader.secret, text.encode())
    headers = {"X-MBX-APIKEY": trader.key}
    if in_body:
        return requests.request(method, url + path, data=text, timeout=10, headers={
            **headers, "Content-Type": "application/x-www-form-urlencoded"})
    return requests.request(method, f"{url}{path}?{text}", timeout=10, headers=headers)


@pytest.fixture
def trader(stack):
    return new_trader(stack)


def test_a_signature_is_accepted_once(stack, trader):
    params = {"timestamp": int(time.time() * 1000)}
    text = urlencode(params)
    url = f"{stack}/api/v3/account?{text}&signature={sign(trader.secret, text.encode())}"
    first = requests.get(url, headers={"X-MBX-APIKEY": trader.key}, timeout=10)
    again = requests.get(url, headers={"X-MBX-APIKEY": trader.key}, timeout=10)
    assert first.status_code == 200 and first.json()["uid"] > 0
    assert (again.status_code, again.json()["code"]) == (400, -1021)


@pytest.mark.parametrize("change, status, code", [
    ({"secret": "x" * 64}, 400, -1022),
    ({"timestamp": 1}, 400, -1021),                          # far outside the window
    ({"timestamp_ahead_ms": 5000}, 400, -1021),              # ahead of the server
    ({"recvWindow": "60001"}, 400, -1131),
    ({"key": "no-such-key"}, 401, -2015),
    ({"key": ""}, 401, -2014),
])
def test_refusals_say_what_is_wrong_and_change_nothing(stack, trader, change, status, code):
    before = trader.balances()
    params: dict = {"recvWindow": change.get("recvWindow", "10000")}
    timestamp = change.get("timestamp")
    if "timestamp_ahead_ms" in change:
        timestamp = int(time.time() * 1000) + change["timestamp_ahead_ms"]
    if "key" in change:
        trader.key = change["key"]
    answer = _signed(stack, trader, "GET", "/api/v3/account", params, secret=change.get("secret"),
                     timestamp=timestamp)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert set(answer.json()) == {"code", "msg"}
    assert trader.balances() == before


def test_params_signed_in_a_delete_body_work_as_python_binance_sends_them(stack, trader):
    answer = _signed(stack, trader, "DELETE", "/api/v3/order", {"symbol": "NOSUCH", "orderId": "1"},
                     in_body=True)
    assert (answer.status_code, answer.json()["code"]) == (400, -1121)


def test_a_key_s_ip_allowlist_and_scopes_hold_on_the_face_too(stack):
    from tests.api.conftest import api_key, signed_up

    session = signed_up(stack)
    elsewhere = api_key(session, ["read"], ip_allowlist=["10.1.2.0/24"])
    trader = type("T", (), {"key": elsewhere.key_id, "secret": elsewhere.secret})()
    answer = _signed(stack, trader, "GET", "/api/v3/account", {})
    assert (answer.status_code, answer.json()["code"]) == (401, -2015)
