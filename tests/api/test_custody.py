"""Deposits and withdrawals through the API, on a simulated chain, to the last unit."""

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import text

from currencies.registry import driver_for
from custody import deposits, withdrawals
from ledger import reconcile
from tests.api.client import error_of
from tests.api.conftest import api_key
from tests.api.test_totp import enable, next_code
from tests.factories import create_currency


@pytest.fixture(autouse=True)
def ledger_reconciles_after_each_test(engine):
    yield
    assert reconcile(engine) == []


@pytest.fixture
def coin(admin_engine):
    return create_currency(admin_engine, scale=8, confirmations=2,
                           withdrawal_fee=Decimal("0.001"), withdrawal_min=Decimal("0.01"),
                           withdrawal_max=Decimal("50"), withdrawal_daily_max=Decimal("60"),
                           withdrawal_approval_above=Decimal("40"))


@pytest.fixture
def chain(engine, coin):
    return driver_for(engine, coin)


def balance(client, code):
    found = {b["currency"]: b for b in client.get("/v1/balances").json()["items"]}
    entry = found.get(code, {"available": "0.00000000", "held": "0.00000000"})
    return entry["available"], entry["held"]


def fund(client, chain, engine, amount: str) -> None:
    """A real deposit on the simulated chain, credited by the deposit scan."""
    address = client.post("/v1/deposit-addresses", {"currency": chain.code}).json()["address"]
    chain.pay_to(address, Decimal(amount))
    chain.mine(2)
    deposits.scan(engine, chain)


def allow(client, chain, admin_engine, address=None, **extra) -> str:
    """An allowed withdrawal address whose cooling-off period is over."""
    address = address or chain.new_deposit_address("outside")
    added = client.post("/v1/withdrawal-addresses",
                        {"currency": chain.code, "address": address, **extra})
    assert added.status_code == 201, added.text
    with admin_engine.begin() as conn:   # time passes: the cooling-off period ends
        conn.execute(text("UPDATE withdrawal_addresses SET usable_from = now() WHERE id = :i"),
                     {"i": int(added.json()["id"])})
    return address


def withdraw(client, code, address, amount, key=None, **extra):
    return client.post("/v1/withdrawals", {"currency": code, "address": address,
                                           "amount": amount, **extra},
                       headers={"Idempotency-Key": key or secrets.token_hex(8)})


def test_a_deposit_is_credited_at_its_confirmations_and_listed(alice, chain, engine):
    first = alice.post("/v1/deposit-addresses", {"currency": chain.code})
    assert first.status_code == 201
    again = alice.post("/v1/deposit-addresses", {"currency": chain.code}).json()
    assert again == first.json() and chain.validate_address(again["address"])
    txid = chain.pay_to(again["address"], Decimal("1.5"))
    chain.mine(1)
    deposits.scan(engine, chain)
    (pending,) = alice.get("/v1/deposits").json()["items"]
    assert (pending["txid"], pending["amount"], pending["confirmations"],
            pending["required_confirmations"], pending["status"]) == (
        txid, "1.50000000", 1, 2, "pending")
    assert balance(alice, chain.code) == ("0.00000000", "0.00000000")
    chain.mine(1)
    deposits.scan(engine, chain)
    (credited,) = alice.get("/v1/deposits").json()["items"]
    assert (credited["confirmations"], credited["status"]) == (2, "credited")
    assert balance(alice, chain.code) == ("1.50000000", "0.00000000")
    assert reconcile(engine) == []


def test_a_withdrawal_holds_amount_and_fee_and_a_retry_is_the_same_request(
        alice, chain, engine, admin_engine):
    fund(alice, chain, engine, "10")
    address = allow(alice, chain, admin_engine)
    key = "withdrawal-" + secrets.token_hex(4)
    first = withdraw(alice, chain.code, address, "2.5", key)
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["amount"], first.json()["fee"]) == (
        "queued", "2.50000000", "0.00100000")
    assert balance(alice, chain.code) == ("7.49900000", "2.50100000")
    retry = withdraw(alice, chain.code, address, "2.5", key)
    assert retry.json()["id"] == first.json()["id"]
    assert balance(alice, chain.code) == ("7.49900000", "2.50100000")
    assert error_of(withdraw(alice, chain.code, address, "3", key)) == (
        409, "idempotency_key_reused", None)
    assert [w["id"] for w in alice.get("/v1/withdrawals").json()["items"]] == [first.json()["id"]]
    assert reconcile(engine) == []


def test_cancelling_returns_everything_once(alice, chain, engine, admin_engine):
    fund(alice, chain, engine, "5")
    address = allow(alice, chain, admin_engine)
    withdrawal_id = withdraw(alice, chain.code, address, "1").json()["id"]
    cancelled = alice.delete(f"/v1/withdrawals/{withdrawal_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert balance(alice, chain.code) == ("5.00000000", "0.00000000")
    assert error_of(alice.delete(f"/v1/withdrawals/{withdrawal_id}"))[:2] == (
        409, "withdrawal_not_cancellable")
    assert balance(alice, chain.code) == ("5.00000000", "0.00000000")
    assert reconcile(engine) == []


@pytest.mark.parametrize("case, expected", [
    ("read-only key", (403, "insufficient_scope", None)),
    ("address not allowed", (403, "address_not_allowed", "address")),
    ("address cooling off", (403, "address_cooling_off", "address")),
    ("over the daily limit", (422, "daily_limit_exceeded", "amount")),
    ("below the minimum", (400, "below_minimum", "amount")),
    ("above the maximum", (400, "above_maximum", "amount")),
    ("invalid address", (400, "invalid_address", "address")),
    ("no idempotency key", (400, "idempotency_key_required", "Idempotency-Key")),
    ("more than available", (422, "insufficient_funds", None)),
])
def test_each_refusal_has_its_code_and_holds_nothing(alice, chain, engine, admin_engine,
                                                     case, expected):
    fund(alice, chain, engine, "45")
    allowed = allow(alice, chain, admin_engine)
    caller, address, amount = alice, allowed, "1"
    if case == "read-only key":
        caller = api_key(alice, ["read", "trade"])
    elif case == "address not allowed":
        address = chain.new_deposit_address("elsewhere")
    elif case == "address cooling off":
        address = chain.new_deposit_address("new")
        assert alice.post("/v1/withdrawal-addresses",
                          {"currency": chain.code, "address": address}).status_code == 201
    elif case == "over the daily limit":
        assert withdraw(alice, chain.code, allowed, "30").status_code == 201
        amount = "30.1"
    elif case == "below the minimum":
        amount = "0.009"
    elif case == "above the maximum":
        amount = "50.00000001"
    elif case == "invalid address":
        address = allowed[:-1] + ("0" if allowed[-1] != "0" else "1")
    elif case == "more than available":
        amount = "45"                     # the fee comes on top
    before = balance(alice, chain.code)
    if case == "no idempotency key":
        response = alice.post("/v1/withdrawals", {"currency": chain.code, "address": address,
                                                  "amount": amount})
    else:
        response = withdraw(caller, chain.code, address, amount)
    assert error_of(response) == expected, response.text
    assert balance(alice, chain.code) == before
    assert reconcile(engine) == []


def test_the_second_factor_is_required_once_enabled(alice, chain, engine, admin_engine):
    fund(alice, chain, engine, "3")
    address = allow(alice, chain, admin_engine)
    secret, _ = enable(alice)
    assert error_of(withdraw(alice, chain.code, address, "1")) == (401, "totp_required", "totp")
    assert error_of(withdraw(alice, chain.code, address, "1", totp="000000"))[:2] == (
        401, "invalid_totp")
    assert balance(alice, chain.code) == ("3.00000000", "0.00000000")
    accepted = withdraw(alice, chain.code, address, "1", totp=next_code(secret))
    assert accepted.status_code == 201, accepted.text
    assert balance(alice, chain.code) == ("1.99900000", "1.00100000")


def test_of_100_concurrent_withdrawals_of_the_whole_balance_one_is_accepted(
        alice, chain, engine, admin_engine):
    fund(alice, chain, engine, "2.001")
    address = allow(alice, chain, admin_engine)
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: withdraw(alice, chain.code, address, "2"),
                                  range(100)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 99
    assert {error_of(r)[1] for r in responses if r.status_code == 422} == {"insufficient_funds"}
    assert balance(alice, chain.code) == ("0.00000000", "2.00100000")
    assert len(alice.get("/v1/withdrawals").json()["items"]) == 1
    assert reconcile(engine) == []


def test_a_large_withdrawal_waits_for_an_operator(alice, chain, engine, admin_engine):
    fund(alice, chain, engine, "45")
    address = allow(alice, chain, admin_engine)
    waiting = withdraw(alice, chain.code, address, "41").json()
    assert waiting["status"] == "pending_approval"
    approved = withdrawals.approve(engine, uuid.UUID(waiting["id"]))
    assert approved["status"] == "queued"
    assert balance(alice, chain.code) == ("3.99900000", "41.00100000")


def test_an_address_is_listed_and_removed(alice, chain):
    address = chain.new_deposit_address("outside")
    added = alice.post("/v1/withdrawal-addresses", {"currency": chain.code, "address": address,
                                                    "label": "cold storage"}).json()
    assert [(a["address"], a["label"]) for a in
            alice.get("/v1/withdrawal-addresses").json()["items"]] == [(address, "cold storage")]
    assert alice.delete(f"/v1/withdrawal-addresses/{added['id']}").status_code == 204
    assert alice.get("/v1/withdrawal-addresses").json()["items"] == []
    assert error_of(alice.post("/v1/withdrawal-addresses",
                               {"currency": chain.code, "address": "nope"})) == (
        400, "invalid_address", "address")
