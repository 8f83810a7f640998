"""Amounts with zeros past the currency's scale (bots print "%.8f"): an exact value is
accepted and kept at the scale; one that would need rounding is refused and changes nothing."""

from decimal import Decimal

import pytest
from sqlalchemy import text

from currencies.registry import driver_for
from ledger import reconcile
from money import AMOUNT_TEXT_LENGTH_MAX
from tests.api.client import error_of
from tests.api.test_custody import allow, balance, fund, withdraw
from tests.factories import create_currency
from tests.trading import create_market, runner


@pytest.fixture(autouse=True)
def ledger_reconciles_after_each_test(engine):
    yield
    assert reconcile(engine) == []


def balances_of(client):
    return {b["currency"]: (b["available"], b["held"])
            for b in client.get("/v1/balances").json()["items"]}


def test_a_faucet_amount_with_zeros_past_the_scale_is_credited_at_the_scale(
        alice, admin_engine, engine):
    code = create_currency(admin_engine, scale=6)
    credited = alice.post("/v1/faucet", {"currency": code, "amount": "20.00000000"})
    assert credited.status_code == 201, credited.text
    assert credited.json()["amount"] == "20.000000"
    assert balances_of(alice) == {code: ("20.000000", "0.000000")}
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT e.amount::text FROM entries e JOIN accounts a ON a.id = e.account_id "
            "WHERE a.currency = :c AND a.kind = 'available'"), {"c": code}).scalars().all()
    assert stored == ["20.000000"]


@pytest.mark.parametrize("amount", ["20.0000001", "20.00000010", "0.0000001",
                                    "0.00000000", "-20.00000000", "2e1", "20.000000 "])
def test_a_faucet_amount_that_would_need_rounding_or_is_malformed_credits_nothing(
        alice, admin_engine, amount):
    code = create_currency(admin_engine, scale=6)
    assert error_of(alice.post("/v1/faucet", {"currency": code, "amount": amount})) == (
        400, "invalid_amount", "amount")
    assert balances_of(alice) == {}


def test_zeros_past_the_scale_are_bounded_by_the_length_of_the_text(alice, admin_engine):
    code = create_currency(admin_engine, scale=6)
    longest = "1." + "0" * (AMOUNT_TEXT_LENGTH_MAX - 2)
    assert AMOUNT_TEXT_LENGTH_MAX == 49
    assert alice.post("/v1/faucet", {"currency": code, "amount": longest}).status_code == 201
    assert error_of(alice.post("/v1/faucet", {"currency": code, "amount": longest + "0"})) == (
        400, "invalid_amount", "amount")
    assert balances_of(alice) == {code: ("1.000000", "0.000000")}


@pytest.fixture
def market(admin_engine):
    """Base scale 8, quote scale 2, tick 0.05, lot 0.01."""
    return create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20, tick="0.05",
                         lot="0.01")


def test_orders_with_zeros_past_the_scale_are_placed_held_and_settled_at_the_scale(
        alice, bob, market, engine, settings):
    base, quote = market.split("-")
    assert alice.post("/v1/faucet", {"currency": base, "amount": "2"}).status_code == 201
    assert bob.post("/v1/faucet", {"currency": quote, "amount": "100"}).status_code == 201
    sell = alice.post("/v1/orders", {"market": market, "side": "sell", "type": "limit",
                                     "price": "10.05000000", "quantity": "1.5000000000"})
    assert sell.status_code == 202, sell.text
    assert (sell.json()["price"], sell.json()["quantity"], sell.json()["held"]) == (
        "10.05", "1.50000000", "1.50000000")
    buy = bob.post("/v1/orders", {"market": market, "side": "buy", "type": "limit",
                                  "price": "10.0500", "quantity": "1.50"})
    # 10.05 x 1.5 = 15.075: 15.08 rounded up, plus the larger fee (20 bps) 0.0302 -> 0.04.
    assert buy.status_code == 202 and buy.json()["held"] == "15.12"
    stop = bob.post("/v1/orders", {"market": market, "side": "buy", "type": "stop_limit",
                                   "price": "12.00000000", "stop_price": "11.00000000",
                                   "quantity": "1.00000000000"})
    assert stop.status_code == 202, stop.text
    assert (stop.json()["price"], stop.json()["stop_price"]) == ("12.00", "11.00")
    market_buy = bob.post("/v1/orders", {"market": market, "side": "buy", "type": "market",
                                         "quote_quantity": "5.00000000"})
    assert market_buy.status_code == 202, market_buy.text
    assert (market_buy.json()["quote_quantity"], market_buy.json()["held"]) == ("5.00", "5.01")
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT price::text, quantity::text FROM orders WHERE id = :i"),
            {"i": int(sell.json()["id"])}).one()
    assert tuple(stored) == ("10.05", "1.50000000")
    runner(engine, settings, market).run_pending()
    assert alice.get(f"/v1/orders/{sell.json()['id']}").json()["status"] == "filled"
    # Alice: 15.075 floored to 15.07, less the maker fee (10 bps) 0.015075 -> 0.02.
    assert balances_of(alice) == {base: ("0.50000000", "0.00000000"), quote: ("15.05", "0.00")}
    assert balances_of(bob)[base] == ("1.50000000", "0.00000000")


@pytest.mark.parametrize("fields, code, field", [
    ({"price": "10.0510000", "quantity": "1"}, "invalid_amount", "price"),
    ({"price": "10.0300000", "quantity": "1"}, "price_off_tick", "price"),
    ({"price": "10.05", "quantity": "1.0000000001"}, "invalid_amount", "quantity"),
    ({"price": "10.05", "quantity": "1.505000000"}, "quantity_off_lot", "quantity"),
    ({"price": "10.05", "quantity": "1." + "0" * 48}, "invalid_amount", "quantity"),
    ({"type": "stop_limit", "price": "12.00", "stop_price": "11.0010000", "quantity": "1"},
     "invalid_amount", "stop_price"),
    ({"type": "market", "quote_quantity": "5.0010000"}, "invalid_amount", "quote_quantity"),
])
def test_order_amounts_that_would_need_rounding_or_miss_the_step_hold_nothing(
        alice, market, fields, code, field):
    _, quote = market.split("-")
    assert alice.post("/v1/faucet", {"currency": quote, "amount": "100"}).status_code == 201
    body = {"market": market, "side": "buy", "type": "limit", **fields}
    assert error_of(alice.post("/v1/orders", body)) == (400, code, field)
    assert balances_of(alice) == {quote: ("100.00", "0.00")}
    assert alice.get("/v1/orders").json()["items"] == []


@pytest.fixture
def coin(admin_engine):
    return create_currency(admin_engine, scale=6, withdrawal_fee=Decimal("0.001"))


def test_a_withdrawal_with_zeros_past_the_scale_holds_exactly_and_one_needing_rounding_nothing(
        alice, coin, engine, admin_engine):
    chain = driver_for(engine, coin)
    fund(alice, chain, engine, "30")
    address = allow(alice, chain, admin_engine)
    refused = withdraw(alice, coin, address, "20.0000001")
    assert error_of(refused) == (400, "invalid_amount", "amount")
    assert balance(alice, coin) == ("30.000000", "0.000000")
    accepted = withdraw(alice, coin, address, "20.00000000")
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["amount"], accepted.json()["fee"]) == ("20.000000", "0.001000")
    assert balance(alice, coin) == ("9.999000", "20.001000")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT amount::text FROM withdrawals WHERE id = :i"),
                              {"i": accepted.json()["id"]}).scalar_one()
    assert stored == "20.000000"
