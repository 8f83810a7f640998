"""Take-profit orders through the API: held as placed, waiting until a trade reaches their
stop price (a sell from below, a buy from above), then filled like the market or limit
order they name, with the rest of the hold released; refused on the wrong side."""

import pytest

from tests.api.client import error_of
from tests.api.conftest import signed_up
from tests.trading import assert_consistent, create_market, runner

# maker 10 bps, taker 20; base scale 8, quote scale 2; tick 0.01, lot 0.001


@pytest.fixture
def market(admin_engine):
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)


@pytest.fixture
def carol(api_url):
    return signed_up(api_url)


def fund(client, currency, amount):
    assert client.post("/v1/faucet", {"currency": currency, "amount": amount}).status_code == 201


def balances(client):
    """currency -> (available, held), as the API shows them."""
    return {item["currency"]: (item["available"], item["held"])
            for item in client.get("/v1/balances").json()["items"]}


def place(client, market, **order):
    response = client.post("/v1/orders", {"market": market, **order})
    assert response.status_code == 202, response.text
    return response.json()


def last_price_100(market, seller, buyer, engine, settings):
    """The seller sells 0.5 at 100.00 to the buyer: 49.95 to the seller (maker fee 0.05),
    50.10 from the buyer (taker fee 0.10)."""
    place(seller, market, side="sell", type="limit", quantity="0.5", price="100.00")
    place(buyer, market, side="buy", type="limit", quantity="0.5", price="100.00")
    runner(engine, settings, market).run_pending()


def test_a_take_profit_market_sell_triggers_when_a_trade_reaches_it_and_fills(
        alice, bob, carol, market, engine, settings):
    base, quote = market.split("-")
    fund(alice, base, "1")
    fund(bob, base, "1")
    fund(carol, quote, "1000")
    last_price_100(market, bob, carol, engine, settings)
    take_profit = place(alice, market, side="sell", type="take_profit_market", quantity="1",
                        stop_price="110.00")
    assert (take_profit["status"], take_profit["type"], take_profit["stop_price"],
            take_profit["held"]) == ("untriggered", "take_profit_market", "110.00",
                                     "1.00000000")
    place(carol, market, side="buy", type="limit", quantity="1", price="108.00")  # holds 108.22
    run = runner(engine, settings, market)
    for price in ("109.99", "110.00"):  # Carol takes 0.1 from Bob at each (11.03 with the fee)
        place(bob, market, side="sell", type="limit", quantity="0.1", price=price)
        place(carol, market, side="buy", type="limit", quantity="0.1", price=price)
        run.run_pending()
        if price == "109.99":  # below the stop price: it waits
            assert alice.get(f"/v1/orders/{take_profit['id']}").json()["status"] == \
                "untriggered"
            assert balances(alice) == {base: ("0.00000000", "1.00000000")}
    # 110.00 reaches the take-profit, which sells 1 to Carol's bid at 108.00 (taker fee 0.22;
    # Carol pays 108.11 with the maker fee, and 0.11 of her hold is released).
    shown = alice.get(f"/v1/orders/{take_profit['id']}").json()
    assert (shown["status"], shown["filled_quantity"], shown["fee_paid"], shown["held"]) == (
        "filled", "1.00000000", "0.22", "0.00000000")
    assert balances(alice) == {base: ("0.00000000", "0.00000000"), quote: ("107.78", "0.00")}
    # 1000 - 50.10 - 11.03 - 11.03 - 108.11; Bob: 49.95 + (10.99 - 0.02) + (11.00 - 0.02),
    # 10.999 received as 10.99 (rounded down, the 0.009 to the exchange)
    assert balances(carol) == {base: ("1.70000000", "0.00000000"), quote: ("819.73", "0.00")}
    assert balances(bob) == {base: ("0.30000000", "0.00000000"), quote: ("71.90", "0.00")}
    assert_consistent(engine)


def test_a_take_profit_limit_buy_triggers_when_the_price_falls_to_it_and_releases_the_rest(
        alice, bob, carol, market, engine, settings):
    base, quote = market.split("-")
    fund(alice, quote, "100")
    fund(bob, base, "2")
    fund(carol, quote, "1000")
    last_price_100(market, bob, carol, engine, settings)
    take_profit = place(alice, market, side="buy", type="take_profit_limit", quantity="1",
                        price="96.00", stop_price="95.00")
    assert (take_profit["status"], take_profit["held"]) == ("untriggered", "96.20")
    assert balances(alice) == {quote: ("3.80", "96.20")}     # 96.00 + the larger fee 0.20
    place(bob, market, side="sell", type="limit", quantity="1", price="95.50")
    place(carol, market, side="buy", type="limit", quantity="0.1", price="95.00")
    place(bob, market, side="sell", type="limit", quantity="0.1", price="95.00")
    runner(engine, settings, market).run_pending()
    # Bob sells 0.1 at 95.00 to Carol's bid: 95 reaches the take-profit, whose limit buy at
    # 96.00 takes Bob's 1 at 95.50: 95.50 + 0.20 taker fee, and the 0.50 left is released.
    shown = alice.get(f"/v1/orders/{take_profit['id']}").json()
    assert (shown["status"], shown["filled_notional"], shown["held"]) == (
        "filled", "95.5000000000", "0.00")
    assert balances(alice) == {base: ("1.00000000", "0.00000000"), quote: ("4.30", "0.00")}
    # 1000 - 50.10 - (9.50 + 0.01 maker fee); Bob: 49.95 + (9.50 - 0.02) + (95.50 - 0.10)
    assert balances(carol) == {base: ("0.60000000", "0.00000000"), quote: ("940.39", "0.00")}
    assert balances(bob) == {base: ("0.40000000", "0.00000000"), quote: ("154.83", "0.00")}
    assert_consistent(engine)


@pytest.mark.parametrize("side, stop_price", [
    ("sell", "99.99"), ("sell", "100.00"), ("buy", "100.00"), ("buy", "100.01")])
@pytest.mark.parametrize("kind", ["take_profit_market", "take_profit_limit"])
def test_a_take_profit_on_the_wrong_side_of_the_last_price_is_refused_and_holds_nothing(
        alice, bob, carol, market, engine, settings, side, stop_price, kind):
    base, quote = market.split("-")
    fund(alice, base, "1")
    fund(alice, quote, "200")
    fund(bob, base, "1")
    fund(carol, quote, "100")
    last_price_100(market, bob, carol, engine, settings)
    body = {"side": side, "type": kind, "quantity": "1", "stop_price": stop_price}
    if kind == "take_profit_limit":
        body["price"] = stop_price
    assert error_of(alice.post("/v1/orders", {"market": market, **body})) == (
        400, "stop_price_wrong_side", "stop_price")
    assert balances(alice) == {base: ("1.00000000", "0.00000000"), quote: ("200.00", "0.00")}
    assert alice.get("/v1/orders").json()["items"] == []


@pytest.mark.parametrize("order, held", [
    # 1 x 95.00 x (1 + 5 %) = 99.75, plus the larger fee 0.20
    ({"side": "buy", "type": "take_profit_market", "quantity": "1", "stop_price": "95.00"},
     ("0.05", "99.95")),
    ({"side": "sell", "type": "take_profit_limit", "quantity": "0.75", "price": "104.00",
      "stop_price": "105.00"}, ("0.25000000", "0.75000000")),
])
def test_cancelling_an_untriggered_take_profit_releases_its_hold_exactly(
        alice, bob, carol, market, engine, settings, order, held):
    base, quote = market.split("-")
    currency = quote if order["side"] == "buy" else base
    fund(alice, currency, "100" if currency == quote else "1")
    fund(bob, base, "1")
    fund(carol, quote, "100")
    last_price_100(market, bob, carol, engine, settings)
    take_profit = place(alice, market, **order)
    assert balances(alice) == {currency: held}
    run = runner(engine, settings, market)
    run.run_pending()
    assert alice.get(f"/v1/orders/{take_profit['id']}").json()["status"] == "untriggered"
    assert alice.delete(f"/v1/orders/{take_profit['id']}").status_code == 202
    run.run_pending()
    shown = alice.get(f"/v1/orders/{take_profit['id']}").json()
    assert (shown["status"], shown["filled_quantity"]) == ("cancelled", "0.00000000")
    assert balances(alice) == {currency: ("100.00", "0.00") if currency == quote else (
        "1.00000000", "0.00000000")}
    assert_consistent(engine)
