"""User data on the streams: listen keys (POST/PUT/DELETE /api/v3/userDataStream) and
``/ws/<listenKey>``, and the WebSocket API subscription that ccxt.pro 4.5.90 uses for
``watch_orders`` and ``watch_balance``: each user hears exactly their own orders and
balances, exact, and a stream ends when its key is closed or its API key revoked."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
import websocket

from tests.api.binance.conftest import new_trader
from tests.api.binance.test_ccxt_pro import _until, pro_client
from tests.api.binance.test_streams import connect, receive

# The async clients of the modules before (ccxt.pro's aiohttp, python-binance's websockets)
# leave a socket to the stack for the collector, which finds it while this module's event
# loop runs; an unclosed client socket of a test library is not the server's fault.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _traders(stack, market):
    base, quote = market.split("-")
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "3")
    seller.fund(quote, "100")
    buyer.fund(quote, "1000")
    return seller, buyer


def test_watch_orders_and_watch_balance_see_exactly_the_users_own_events(stack, market):
    base, quote = market.split("-")
    symbol = f"{base}/{quote}"
    seller, buyer = _traders(stack, market)

    async def run():
        sells, buys = pro_client(stack, seller), pro_client(stack, buyer)
        for client in (sells, buys):
            await client.load_markets()
        try:
            orders = asyncio.ensure_future(_orders_until(
                sells, symbol, lambda o: o[-1]["status"] == "open" and o[-1]["filled"] == 1))
            balances = asyncio.ensure_future(_until(
                sells.watch_balance, lambda b: b.get(quote, {}).get("free") == 200.39))
            buyer_orders = asyncio.ensure_future(_orders_until(
                buys, symbol, lambda o: o[-1]["status"] == "closed"))
            await asyncio.sleep(1)   # the subscriptions answered
            resting = await sells.create_order(symbol, "limit", "sell", 1.5, 100.5)
            taken = await buys.create_order(symbol, "market", "buy", 1)
            return (await asyncio.wait_for(orders, 20), await asyncio.wait_for(balances, 20),
                    await asyncio.wait_for(buyer_orders, 20), resting, taken)
        finally:
            for client in (sells, buys):
                await client.close()

    try:
        seen, balance, buyer_seen, resting, taken = asyncio.run(run())
    finally:   # their sockets closed here, not whenever the collector finds them
        for trader in (seller, buyer):
            trader.session.http.close()
    assert {order["id"] for order in seen} == {resting["id"]}   # nothing of the buyer's
    assert [(o["status"], o["filled"], o["remaining"]) for o in seen][-1] == ("open", 1, 0.5)
    last = seen[-1]["info"]
    assert (last["x"], last["X"], last["l"], last["L"], last["z"], last["n"], last["N"],
            last["m"]) == ("TRADE", "PARTIALLY_FILLED", "1.00000000", "100.50",
                           "1.00000000", "0.11", quote, True)
    assert (balance[base]["free"], balance[base]["used"]) == (1.5, 0.5)
    assert (balance[quote]["free"], balance[quote]["used"]) == (200.39, 0)
    assert {order["id"] for order in buyer_seen} == {taken["id"]}
    assert buyer_seen[-1]["info"]["n"] == "0.21"   # the taker's 20 bps of 100.50, rounded up


async def _orders_until(client, symbol, done):
    seen = []
    while not seen or not done(seen):
        seen += await client.watch_orders(symbol)
    return seen


def _listen_key(stack, trader, method="POST", key=None):
    return requests.request(method, stack + "/api/v3/userDataStream",
                            headers={"X-MBX-APIKEY": trader.key},
                            data={"listenKey": key} if key else None, timeout=10)


def test_a_listen_key_is_one_per_api_key_and_its_stream_carries_the_users_orders(stack, market):
    base, quote = market.split("-")
    seller, buyer = _traders(stack, market)
    created = _listen_key(stack, seller)
    assert created.status_code == 200, created.text
    key = created.json()["listenKey"]
    assert len(key) == 60 and _listen_key(stack, seller).json() == {"listenKey": key}
    assert _listen_key(stack, seller, "PUT", key).json() == {}
    other = _listen_key(stack, buyer).json()["listenKey"]
    assert other != key
    refused = _listen_key(stack, buyer, "PUT", key)      # another key's listen key
    assert (refused.status_code, refused.json()) == (
        400, {"code": -1125, "msg": "This listenKey does not exist."})
    socket, buyers = connect(stack, f"/ws/{key}"), connect(stack, f"/ws/{other}")
    symbol = market.replace("-", "")
    from tests.api.binance.conftest import ccxt_client
    sells = ccxt_client(stack, seller)
    order = sells.create_order(f"{base}/{quote}", "limit", "sell", 1.5, 100.5)
    new = receive(socket, lambda f: f.get("e") == "executionReport")
    assert {k: new[k] for k in ("s", "S", "o", "f", "q", "p", "x", "X", "i", "z", "Z")} == {
        "s": symbol, "S": "SELL", "o": "LIMIT", "f": "GTC", "q": "1.50000000", "p": "100.50",
        "x": "NEW", "X": "NEW", "i": int(order["id"]), "z": "0.00000000", "Z": "0.0000000000"}
    position = receive(socket, lambda f: f.get("e") == "outboundAccountPosition")
    assert sorted((b["a"], b["f"], b["l"]) for b in position["B"]) == sorted(
        [(base, "1.50000000", "1.50000000"), (quote, "100.00", "0.00")])
    buyers.settimeout(2)
    try:
        assert json.loads(buyers.recv()) is None, "the buyer heard the seller's order"
    except websocket.WebSocketTimeoutException:
        pass
    assert _listen_key(stack, seller, "DELETE", key).json() == {}
    ended = receive(socket, lambda f: f.get("e") == "listenKeyExpired")
    assert ended["listenKey"] == key
    gone = connect(stack, f"/ws/{key}")
    assert json.loads(gone.recv()) == {"error": {"code": -1125,
                                                 "msg": "This listenKey does not exist."},
                                       "id": None}
    for each in (socket, buyers, gone):
        each.close()


def test_the_user_stream_ends_when_the_api_key_is_revoked(stack, market):
    seller, _ = _traders(stack, market)
    key = _listen_key(stack, seller).json()["listenKey"]
    socket = connect(stack, f"/ws/{key}")
    assert seller.session.delete(f"/v1/api-keys/{seller.key}").status_code == 204
    assert receive(socket, lambda f: True)["e"] == "listenKeyExpired"
    socket.close()
    refused = _listen_key(stack, seller)
    assert (refused.status_code, refused.json()["code"]) == (401, -2015)


def test_listen_key_requests_without_a_key_or_with_an_unknown_one_are_refused(stack):
    missing = requests.post(stack + "/api/v3/userDataStream", timeout=10)
    assert (missing.status_code, missing.json()) == (
        401, {"code": -2014, "msg": "API-key format invalid."})
    unknown = requests.post(stack + "/api/v3/userDataStream",
                            headers={"X-MBX-APIKEY": "nosuchkey"}, timeout=10)
    assert (unknown.status_code, unknown.json()["code"]) == (401, -2015)


def test_money_in_outside_trading_is_a_balance_update_on_the_users_stream(stack, market,
                                                                           engine):
    """A faucet grant (the web process) and a deposit credited (the scheduler's scan)."""
    from decimal import Decimal

    from currencies.registry import driver_for

    base, _ = market.split("-")
    seller, buyer = _traders(stack, market)
    keys = [_listen_key(stack, trader).json()["listenKey"] for trader in (seller, buyer)]
    socket, buyers = (connect(stack, f"/ws/{key}") for key in keys)
    seller.fund(base, "2")
    granted = receive(socket, lambda f: f.get("e") == "balanceUpdate")
    assert (granted["a"], granted["d"]) == (base, "2.00000000")
    position = receive(socket, lambda f: f.get("e") == "outboundAccountPosition")
    assert [(b["a"], b["f"], b["l"]) for b in position["B"]] == [(base, "5.00000000",
                                                                  "0.00000000")]
    address = seller.session.post("/v1/deposit-addresses", {"currency": base}).json()["address"]
    chain = driver_for(engine, base)
    chain.pay_to(address, Decimal("0.25"))
    chain.mine(1)
    credited = receive(socket, lambda f: f.get("e") == "balanceUpdate")
    assert (credited["a"], credited["d"]) == (base, "0.25000000")
    position = receive(socket, lambda f: f.get("e") == "outboundAccountPosition")
    assert [(b["a"], b["f"]) for b in position["B"]] == [(base, "5.25000000")]
    buyers.settimeout(2)
    try:
        heard = json.loads(buyers.recv())
        assert heard.get("e") != "balanceUpdate", "the buyer heard the seller's money"
    except websocket.WebSocketTimeoutException:
        pass
    for each in (socket, buyers):
        each.close()
    for trader in (seller, buyer):
        trader.session.http.close()
