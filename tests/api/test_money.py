"""Balances, the ledger and the faucet, to the last unit; and what one user cannot see."""

from decimal import Decimal

import pytest
from sqlalchemy import text

from ledger import reconcile
from tests.api.client import error_of
from tests.api.conftest import api_key


def balances_of(client):
    return {b["currency"]: b for b in client.get("/v1/balances").json()["items"]}


def test_the_faucet_credits_exact_amounts_through_the_ledger(alice, currency, engine):
    assert alice.get("/v1/balances").json() == {"items": []}
    first = alice.post("/v1/faucet", {"currency": currency, "amount": "1.23456789"})
    assert first.status_code == 201
    assert first.json()["amount"] == "1.23456789"
    assert alice.post("/v1/faucet", {"currency": currency, "amount": "0.00000011"}).status_code \
        == 201
    assert balances_of(alice)[currency] == {"currency": currency, "available": "1.23456800",
                                            "held": "0.00000000", "total": "1.23456800"}
    entries = alice.get("/v1/ledger").json()["items"]
    assert [(e["kind"], e["account"], e["amount"]) for e in entries] == [
        ("faucet", "available", "0.00000011"), ("faucet", "available", "1.23456789")]
    with engine.connect() as conn:
        world = conn.execute(text("SELECT balance FROM accounts WHERE currency = :c "
                                  "AND kind = 'world'"), {"c": currency}).scalar_one()
    assert world == Decimal("-1.23456800")
    assert reconcile(engine) == []


def test_the_ledger_pages_with_a_cursor(alice, currency):
    for amount in ("1", "2", "3", "4", "5"):
        alice.post("/v1/faucet", {"currency": currency, "amount": amount})
    first = alice.get("/v1/ledger?limit=2").json()
    second = alice.get(f"/v1/ledger?limit=2&cursor={first['next_cursor']}").json()
    third = alice.get(f"/v1/ledger?limit=2&cursor={second['next_cursor']}").json()
    amounts = [e["amount"] for page in (first, second, third) for e in page["items"]]
    assert amounts == ["5.00000000", "4.00000000", "3.00000000", "2.00000000", "1.00000000"]
    assert third["next_cursor"] is None
    assert error_of(alice.get("/v1/ledger?limit=1000"))[:2] == (400, "invalid_request")
    assert error_of(alice.get("/v1/ledger?limit=ten")) == (400, "invalid_request", "limit")


@pytest.mark.parametrize("raw, status, code", [
    (b'{"currency": "CUR", "amount": 1.5}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": 2}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": NaN}', 400, "invalid_json"),
    (b'{"currency": "CUR", "amount": "Infinity"}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": "-1"}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": "0.000000001"}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": "1e3"}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": "0"}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": "100001"}', 400, "invalid_amount"),
    (b'{"currency": "CUR", "amount": "1", "user_id": 1}', 400, "invalid_request"),
    (b'{"currency": "NOPE", "amount": "1"}', 404, "unknown_currency"),
])
def test_bad_amounts_are_refused_and_change_nothing(alice, currency, raw, status, code):
    response = alice.post("/v1/faucet", raw=raw.replace(b"CUR", currency.encode()))
    assert error_of(response)[:2] == (status, code)
    assert balances_of(alice) == {}


def test_the_faucet_is_bounded_per_user_per_hour(alice, currency):
    codes = [alice.post("/v1/faucet", {"currency": currency, "amount": "1"}).status_code
             for _ in range(11)]
    assert codes == [201] * 10 + [429]
    assert balances_of(alice)[currency]["total"] == "10.00000000"


def test_one_user_cannot_reach_another_users_things(alice, bob, currency):
    alice.post("/v1/faucet", {"currency": currency, "amount": "7"})
    alice_key = alice.post("/v1/api-keys", {"scopes": ["read"]}).json()
    assert bob.get("/v1/ledger").json()["items"] == []
    assert balances_of(bob) == {}
    assert bob.get("/v1/api-keys").json()["items"] == []
    assert error_of(bob.delete(f"/v1/api-keys/{alice_key['id']}")) == (404, "not_found", "id")
    assert alice.get("/v1/api-keys").json()["items"][0]["revoked_at"] is None
    bob_bot = api_key(bob, ["read"])
    assert bob_bot.get("/v1/balances").json() == {"items": []}
    assert balances_of(alice)[currency]["total"] == "7.00000000"


def test_fields_a_client_must_not_set_are_refused(alice, api_url):
    for path, body in [
        ("/v1/users", {"email": "x@example.com", "password": "long enough password",
                       "id": 1}),
        ("/v1/api-keys", {"scopes": ["read"], "user_id": 1}),
        ("/v1/api-keys", {"scopes": ["read"], "created_at": "2020-01-01T00:00:00Z"}),
        ("/v1/me/totp/verify", {"code": "123456", "enabled": True}),
    ]:
        status, code, _ = error_of(alice.post(path, body))
        assert (status, code) == (400, "invalid_request"), path
    assert alice.get("/v1/api-keys").json()["items"] == []
