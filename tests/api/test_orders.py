"""Trading through the API: 202 with the held funds, then filled in sequence by the matcher."""

from decimal import Decimal as D

import pytest

from tests.api.client import error_of
from tests.api.conftest import api_key
from tests.trading import assert_consistent, create_market, runner


@pytest.fixture
def market(admin_engine):
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)


def fund(client, market, base="0", quote="0"):
    base_code, quote_code = market.split("-")
    for code, amount in ((base_code, base), (quote_code, quote)):
        if D(amount):
            assert client.post("/v1/faucet", {"currency": code, "amount": amount}).status_code \
                == 201


def balance(client, currency):
    for item in client.get("/v1/balances").json()["items"]:
        if item["currency"] == currency:
            return item["available"], item["held"]
    return None


def test_a_limit_sell_and_a_market_buy_trade_and_both_see_fills(alice, bob, market, engine,
                                                               settings):
    base, quote = market.split("-")
    fund(alice, market, base="2")
    fund(bob, market, quote="1000")
    sell = alice.post("/v1/orders", {"market": market, "side": "sell", "type": "limit",
                                     "quantity": "1.5", "price": "100.00"})
    assert sell.status_code == 202 and sell.json()["status"] == "accepted"
    assert sell.json()["held"] == "1.50000000" and balance(alice, base) == (
        "0.50000000", "1.50000000")
    buy = bob.post("/v1/orders", {"market": market, "side": "buy", "type": "market",
                                  "quantity": "1"})
    assert buy.status_code == 202
    runner(engine, settings, market).run_pending()
    assert bob.get(f"/v1/orders/{buy.json()['id']}").json()["status"] == "filled"
    assert alice.get(f"/v1/orders/{sell.json()['id']}").json()["status"] == "partially_filled"
    assert balance(bob, base) == ("1.00000000", "0.00000000")
    assert balance(bob, quote) == ("899.80", "0.00")         # 100.00 + 0.20 taker fee
    assert balance(alice, quote) == ("99.90", "0.00")        # 100.00 - 0.10 maker fee
    bob_fills = bob.get("/v1/fills").json()["items"]
    alice_fills = alice.get(f"/v1/fills?market={market}").json()["items"]
    assert [(f["side"], f["price"], f["quantity"], f["fee"], f["liquidity"]) for f in bob_fills] \
        == [("buy", "100.00", "1.00000000", "0.20", "taker")]
    assert [(f["side"], f["fee"], f["liquidity"]) for f in alice_fills] == [
        ("sell", "0.10", "maker")]
    assert_consistent(engine)


def test_a_fill_whose_notional_has_more_decimals_than_the_quote_shows_it_exactly(
        alice, bob, market, engine, settings):
    # 100.01 x 0.123 = 12.30123: the fill's notional has five decimals, its quote two.
    base, quote = market.split("-")
    fund(alice, market, base="1")
    fund(bob, market, quote="100")
    sell = alice.post("/v1/orders", {"market": market, "side": "sell", "type": "limit",
                                     "quantity": "0.123", "price": "100.01",
                                     "client_order_id": "exact-1"})
    buy = bob.post("/v1/orders", {"market": market, "side": "buy", "type": "limit",
                                  "quantity": "0.123", "price": "100.01"})
    assert sell.status_code == buy.status_code == 202
    runner(engine, settings, market).run_pending()
    for client, order in ((alice, sell), (bob, buy)):
        shown = client.get(f"/v1/orders/{order.json()['id']}")
        assert shown.status_code == 200
        assert (shown.json()["status"], shown.json()["filled_notional"]) == (
            "filled", "12.3012300000")
    again = alice.post("/v1/orders", {"market": market, "side": "sell", "type": "limit",
                                      "quantity": "0.123", "price": "100.01",
                                      "client_order_id": "exact-1"})
    assert (again.json()["id"], again.json()["filled_notional"]) == (
        sell.json()["id"], "12.3012300000")
    # Bob pays 12.31 (the notional rounded up) + 0.03 taker fee; Alice gets 12.30 - 0.02.
    assert balance(bob, quote) == ("87.66", "0.00")
    assert balance(alice, quote) == ("12.28", "0.00")
    assert_consistent(engine)


def test_cancel_one_and_cancel_all_go_through_the_matcher(alice, market, engine, settings):
    _, quote = market.split("-")
    fund(alice, market, quote="1000")
    ids = [alice.post("/v1/orders", {"market": market, "side": "buy", "type": "limit",
                                     "quantity": "1", "price": price}).json()["id"]
           for price in ("10.00", "11.00", "12.00")]
    run = runner(engine, settings, market)
    run.run_pending()
    assert balance(alice, quote) == ("966.92", "33.08")  # 10.02 + 11.03 + 12.03
    cancelled = alice.delete(f"/v1/orders/{ids[0]}")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "open"
    assert alice.delete(f"/v1/orders?market={market}").json() == {"cancelling": 3}
    run.run_pending()
    assert [alice.get(f"/v1/orders/{i}").json()["status"] for i in ids] == ["cancelled"] * 3
    assert balance(alice, quote) == ("1000.00", "0.00")
    assert error_of(alice.delete(f"/v1/orders/{ids[0]}")) == (
        409, "order_not_cancellable", "id")
    assert_consistent(engine)


@pytest.mark.parametrize("body, status, code, field", [
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.001"}, 400,
     "invalid_amount", "price"),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.005"}, 400,
     "invalid_amount", "price"),
    ({"side": "buy", "type": "limit", "quantity": 1, "price": "10.00"}, 400,
     "invalid_amount", "quantity"),
    ({"side": "buy", "type": "limit", "quantity": "0.0005", "price": "10.00"}, 400,
     "quantity_off_lot", "quantity"),
    ({"side": "buy", "type": "limit", "quantity": "0.001", "price": "10.00"}, 400,
     "below_min_notional", "quantity"),
    ({"side": "buy", "type": "limit", "quantity": "1000", "price": "10.00"}, 422,
     "insufficient_funds", None),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.00", "status": "filled"},
     400, "invalid_request", None),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.00", "fee": "0"},
     400, "invalid_request", None),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "10.00",
      "time_in_force": "gtd", "expire_at": "2001-01-01T00:00:00Z"}, 400, "expire_at_in_past",
     "expire_at"),
    ({"side": "hold", "type": "limit", "quantity": "1", "price": "10.00"}, 400,
     "invalid_request", "side"),
])
def test_bad_orders_get_their_own_code_and_hold_nothing(alice, market, body, status, code,
                                                        field):
    _, quote = market.split("-")
    fund(alice, market, quote="100")
    response = alice.post("/v1/orders", {"market": market, **body})
    assert error_of(response) == (status, code, field)
    assert balance(alice, quote) == ("100.00", "0.00")
    assert alice.get("/v1/orders").json()["items"] == []


def test_an_unknown_market_and_a_missing_scope_are_refused(alice, market):
    assert error_of(alice.post("/v1/orders", {"market": "NO-PE", "side": "buy",
                                              "type": "market", "quantity": "1"})) == (
        404, "unknown_market", "market")
    reader = api_key(alice, ["read"])
    assert error_of(reader.post("/v1/orders", {"market": market, "side": "buy",
                                               "type": "market", "quantity": "1"})) == (
        403, "insufficient_scope", None)


def test_a_retry_with_the_same_client_order_id_returns_the_same_order(alice, market):
    _, quote = market.split("-")
    fund(alice, market, quote="100")
    body = {"market": market, "side": "buy", "type": "limit", "quantity": "1",
            "price": "10.00", "client_order_id": "retry-me"}
    first, second = alice.post("/v1/orders", body), alice.post("/v1/orders", body)
    assert first.json()["id"] == second.json()["id"]
    assert [o["id"] for o in alice.get("/v1/orders").json()["items"]] == [first.json()["id"]]
    assert balance(alice, quote) == ("89.98", "10.02")


def test_nobody_sees_or_cancels_anothers_orders(alice, bob, market):
    fund(alice, market, quote="100")
    order = alice.post("/v1/orders", {"market": market, "side": "buy", "type": "limit",
                                      "quantity": "1", "price": "10.00"}).json()
    assert error_of(bob.get(f"/v1/orders/{order['id']}")) == (404, "order_not_found", "id")
    assert error_of(bob.delete(f"/v1/orders/{order['id']}")) == (404, "order_not_found", "id")
    assert bob.get("/v1/orders").json()["items"] == []
    assert bob.delete(f"/v1/orders?market={market}").json() == {"cancelling": 0}
    assert alice.get(f"/v1/orders/{order['id']}").json()["status"] == "accepted"


def test_concurrent_retries_of_one_client_order_id_make_one_order(alice, market, engine):
    from concurrent.futures import ThreadPoolExecutor

    _, quote = market.split("-")
    fund(alice, market, quote="100")
    body = {"market": market, "side": "buy", "type": "limit", "quantity": "1",
            "price": "10.00", "client_order_id": "many-at-once"}
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: alice.post("/v1/orders", body), range(20)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert balance(alice, quote) == ("89.98", "10.02")
    assert_consistent(engine)


def test_the_open_order_bound_holds_under_concurrency(alice, market, engine):
    from concurrent.futures import ThreadPoolExecutor

    from trading.rules import ORDERS_OPEN_PER_USER_MAX

    base, _ = market.split("-")
    fund(alice, market, base=str(ORDERS_OPEN_PER_USER_MAX + 20))
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda n: alice.post("/v1/orders", {
            "market": market, "side": "sell", "type": "limit", "quantity": "1",
            "price": f"{100 + n}.00"}), range(ORDERS_OPEN_PER_USER_MAX + 20)))
    accepted = [r for r in responses if r.status_code == 202]
    refused = [error_of(r) for r in responses if r.status_code != 202]
    assert len(accepted) == ORDERS_OPEN_PER_USER_MAX
    assert refused == [(400, "too_many_open_orders", None)] * 20
    assert balance(alice, base) == ("20.00000000", f"{ORDERS_OPEN_PER_USER_MAX}.00000000")
    assert_consistent(engine)
